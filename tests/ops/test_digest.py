"""The weekly digest, started by its Temporal Schedule on the dev server (the time-skipping
server has no schedules): the schedule is created as the worker creates it, triggered now,
and the case handler's mail arrives at a real SMTP server with the coming week's deadline,
its explanation, and the forecast's headline."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from dateutil.relativedelta import relativedelta
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.ops.digest import Digest, ensure_digest_schedule
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import case_status, open_case
from tests.fixtures_sinks import SmtpSink
from tests.fixtures_temporal import running_worker
from workflows import workflow_runner
from workflows.digest import SCHEDULE_ID, WeeklyDigest


async def test_the_schedule_mails_the_week_s_deadlines(
        dev_env: WorkflowEnvironment, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    client = dev_env.client
    url = f"sqlite:///{tmp_path / 'register.db'}"
    migrate(url)
    register = Register(make_engine(url))
    tag = uuid.uuid4().hex[:6]
    # A formal notice of 2 months dated so that it falls due in 3 days (a weekend or a
    # holiday moves it a few days at most): due this week.
    notice = date.today() - relativedelta(months=2) + relativedelta(days=3)
    cid = f"DIG-{tag}"
    digest_tq = f"digest-{tag}"
    settings = Settings(task_queue=digest_tq, smtp_host="127.0.0.1", smtp_port=smtp_sink.port,
                        smtp_starttls=False, case_handler_emails={"fr-cnil": "h@cnil.example"})
    async with running_worker(client, register) as tq:
        await open_case(client, CaseInput(
            case_id=cid, controller=Controller(name="Weekly SA", country="FR"),
            events=[EVENT_ADAPTER.validate_python({
                "type": "formal_notice_issued", "date": notice.isoformat(),
                "period": "2 months"})]), tq)
        status = await case_status(client, cid)
        [dl] = status.deadlines
        assert (date.fromisoformat(dl.due) - date.today()).days in range(7)
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with Worker(client, task_queue=digest_tq, workflows=[WeeklyDigest],
                              activities=[Digest(settings).send], activity_executor=executor,
                              workflow_runner=workflow_runner()):
                assert await ensure_digest_schedule(client, settings) is True
                assert await ensure_digest_schedule(client, settings) is False  # kept
                schedule = client.get_schedule_handle(SCHEDULE_ID)
                described = await schedule.describe()
                [calendar] = described.schedule.spec.calendars
                assert [r.start for r in calendar.day_of_week] == [1]  # Monday
                assert [r.start for r in calendar.hour] == [7]
                await schedule.trigger()
                for _ in range(300):
                    mails = [m for m in smtp_sink.mails if "h@cnil.example" in m.recipients]
                    if mails:
                        break
                    await asyncio.sleep(0.1)
                await schedule.delete()
    [mail] = mails
    text = mail.message.get_content()
    assert "deadline(s) due" in mail.message["Subject"]
    assert f"{cid} (Weekly SA, fr-cnil, stage formal_notice): formal_notice_compliance due " \
        f"{date.fromisoformat(dl.due):%a %d %b %Y}" in text
    for sentence in dl.explanation:
        assert f"    {sentence}" in text
    assert "deadlines running out: " in text and "assumptions: assumptions.example.yaml" in text
