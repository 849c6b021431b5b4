"""The weekly digest: a workflow started by a Temporal Schedule (never a cron of the
engine's own), which hands the whole job to one activity: read the open cases, write each
case handler the deadlines of the coming week with their explanations and the forecast's
headline, and mail it. The workflow only waits for it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

SCHEDULE_ID = "enforcement-weekly-digest"


class DigestInput(BaseModel):
    days: int = Field(default=7, ge=1, le=31, description="how far ahead: the coming week")
    runs: int = Field(default=50, ge=1, le=500, description="forecast runs per case")


class DigestSent(BaseModel):
    mails: int
    cases: int
    deadlines: int
    recipients: list[str]


@workflow.defn
class WeeklyDigest:
    @workflow.run
    async def run(self, inp: DigestInput) -> DigestSent:
        sent: DigestSent = await workflow.execute_activity(
            "digest.send", inp, start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=3,
                                     initial_interval=timedelta(seconds=30)),
            result_type=DigestSent)
        return sent
