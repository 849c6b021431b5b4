"""The weekly digest's work and its schedule.

`Digest.send` (the activity `digest.send`, run by the `WeeklyDigest` workflow) reads the
whole state of every open case, finds the deadlines falling due in the coming week, and
mails each case handler (`ENFORCE_CASE_HANDLER_EMAILS` by procedure, else
`ENFORCE_CASE_HANDLER_EMAIL`) their deadlines with every sentence of their explanation, and
the forecast's headline for the week (median and 10th-90th percentiles over the runs, under
the assumptions file named in the mail). `ensure_digest_schedule` creates the Temporal
Schedule that starts the workflow every week (Monday 07:00 in Europe/Paris by default);
`enforce digest send` triggers it now.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleRange,
    ScheduleSpec,
)

from activities.mail import SmtpSender, message_id, sender_domain
from enforcement.case.machine import CaseState
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import open_case_states
from enforcement.simulation.forecast import Forecast, forecast, load_assumptions
from workflows.digest import (
    SCHEDULE_ID as SCHEDULE_ID,  # for the CLI, which may not import workflows
)
from workflows.digest import DigestInput, DigestSent, WeeklyDigest

log = structlog.get_logger("digest")

EXAMPLE_ASSUMPTIONS = Path(__file__).resolve().parents[2] / "forecast" / \
    "assumptions.example.yaml"
KIND_WORDS = {"deadlines": "deadlines running out", "hearings": "hearings",
              "decisions": "decisions", "referrals": "referrals"}


def handler_of(settings: Settings, procedure: str) -> str | None:
    return settings.case_handler_emails.get(procedure) or settings.case_handler_email


def due_this_week(states: list[CaseState], today: date, days: int
                  ) -> list[tuple[CaseState, str, date, list[str]]]:
    """Each pending deadline falling due from today to `days` days on: the case, the
    deadline, its due day and its explanation; by due day."""
    out = []
    for st in states:
        for dl in st.deadlines:
            due = date.fromisoformat(dl.due[:10])
            if dl.status == "pending" and today <= due < today + timedelta(days=days):
                out.append((st, dl.name, due, list(dl.explanation)))
    return sorted(out, key=lambda x: (x[2], x[0].case_id, x[1]))


def body(today: date, days: int, items: list[tuple[CaseState, str, date, list[str]]],
         f: Forecast | None, procedures: list[str]) -> str:
    end = today + timedelta(days=days - 1)
    lines = [f"Deadlines falling due from {today:%a %d %b %Y} to {end:%a %d %b %Y} "
             f"({', '.join(procedures)}): {len(items)}", ""]
    for st, name, due, why in items:
        lines.append(f"- {st.case_id} ({st.controller.name}, {st.procedure}, stage "
                     f"{st.stage}): {name} due {due:%a %d %b %Y}")
        lines += [f"    {sentence}" for sentence in why]
    if not items:
        lines.append("(none)")
    if f is not None:
        lines += ["", f"Forecast for the same week, all {f.cases} open cases of these "
                      f"procedures ({f.runs} runs each; assumptions: {f.assumptions}; median, "
                      f"10th-90th percentile):"]
        for kind, row in f.headline().items():
            lines.append(f"  {KIND_WORDS[kind]}: {row['p50']} ({row['p10']}-{row['p90']})")
    lines += ["", "Sent by the enforcement engine's weekly digest (a Temporal Schedule)."]
    return "\n".join(lines) + "\n"


class Digest:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn(name="digest.send")
    async def send(self, inp: DigestInput) -> DigestSent:
        s = self.settings
        states, unread = await open_case_states(activity.client())
        now = datetime.now(UTC)
        today = now.date()
        assumptions = load_assumptions(s.digest_assumptions or EXAMPLE_ASSUMPTIONS)
        by_handler: dict[str, list[CaseState]] = defaultdict(list)
        for st in states:
            address = handler_of(s, st.procedure)
            if address is None:
                log.warning("digest: no case handler address", procedure=st.procedure)
                continue
            by_handler[address].append(st)
        sent, deadlines = [], 0
        sender = SmtpSender(s) if s.smtp_host else None
        for address, mine in sorted(by_handler.items()):
            items = due_this_week(mine, today, inp.days)
            deadlines += len(items)
            f = forecast(mine, assumptions, now=now, weeks=1, runs=inp.runs)
            text = body(today, inp.days, items, f, sorted({st.procedure for st in mine}))
            if unread:
                text += (f"\n{len(unread)} open case(s) did not answer and are left out: "
                         f"{', '.join(unread[:20])}\n")
            msg = EmailMessage()
            msg["From"] = s.mail_from
            msg["To"] = address
            msg["Subject"] = f"Week of {today:%d %b %Y}: {len(items)} deadline(s) due"
            msg["Date"] = format_datetime(now)
            msg["Message-ID"] = message_id(f"digest:{today.isoformat()}:{address}",
                                           sender_domain(s.mail_from))
            msg["Auto-Submitted"] = "auto-generated"
            msg.set_content(text, charset="utf-8")
            if sender is None:
                log.warning("digest not mailed: no SMTP server (ENFORCE_SMTP_HOST)",
                            to=address, deadlines=len(items))
                continue
            await sender.send(msg)
            sent.append(address)
            activity.heartbeat(address)
        log.info("digest sent", mails=len(sent), cases=len(states), deadlines=deadlines)
        return DigestSent(mails=len(sent), cases=len(states), deadlines=deadlines,
                          recipients=sent)


async def ensure_digest_schedule(client: Client, settings: Settings) -> bool:
    """Create the weekly digest's schedule unless it exists; True when created."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(WeeklyDigest.run, DigestInput(),
                                           id=f"{SCHEDULE_ID}-run",
                                           task_queue=settings.task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(
            day_of_week=[ScheduleRange(settings.digest_weekday % 7)],
            hour=[ScheduleRange(settings.digest_hour)], minute=[ScheduleRange(0)],
            second=[ScheduleRange(0)])], time_zone_name=settings.digest_timezone))
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
