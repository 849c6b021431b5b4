"""A register that refuses a write for good does not kill the case.

The refusal here is PostgreSQL's own: a trigger raises SQLSTATE 22003 (a value out of range,
a data exception), as the database does for an integer above 2^63 or a text with a NUL
byte. Before the case held refused entries, both workflows failed, the status still said
"open" and no deadline ran again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import psycopg
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.case.models import EVENT_ADAPTER, CaseInput, CaseStatus, Controller, Event
from enforcement.ops.temporal import case_status, open_case, send_event
from tests.fixtures_temporal import days_ago, running_worker

REFUSE = """
CREATE FUNCTION refuse_notice() RETURNS trigger AS $$
BEGIN
  IF NEW.name = 'formal_notice_compliance' THEN
    RAISE EXCEPTION 'value out of range for the register' USING ERRCODE = '22003';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_notice BEFORE INSERT OR UPDATE ON deadlines
  FOR EACH ROW EXECUTE FUNCTION refuse_notice();
"""


def ev(**fields: object) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


async def settled(client: object, cid: str, done: Callable[[CaseStatus], bool]) -> CaseStatus:
    for _ in range(100):
        status = await case_status(client, cid)  # type: ignore[arg-type]
        if done(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {cid} never settled: {status}")


async def test_a_refused_write_is_held_shown_and_written_once_the_register_takes_it(
        dev_env: WorkflowEnvironment, postgres_url: str) -> None:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    register = Register(engine)
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as db:
        db.execute(REFUSE)
    client = dev_env.client
    cid = f"REFUSE-{uuid.uuid4().hex[:6]}"
    case = CaseInput(case_id=cid, controller=Controller(name="X", country="FR"),
                     events=[ev(type="complaint_received", date=days_ago(10), subject="s",
                                complainant_ref="c")])
    try:
        async with running_worker(client, register) as tq:
            await open_case(client, case, tq, search_attributes=False)
            await send_event(client, cid, ev(type="formal_notice_issued", date=days_ago(5),
                                             period="2 months"))
            status = await settled(client, cid, lambda s: bool(s.alerts))
            # the case goes on, saying what the register refused and that it will try again
            assert (status.status, status.stage) == ("open", "formal_notice")
            [alert] = status.alerts
            assert alert.startswith("the register refused to record this case's entries: ")
            assert "value out of range for the register" in alert
            assert "the case goes on and each later write tries them again" in alert
            rows = register.case_rows(cid)
            assert [r["type"] for r in rows["events"]] == ["complaint_received"]

            with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"),
                                 autocommit=True) as db:
                db.execute("DROP TRIGGER refuse_notice ON deadlines")  # the operator's fix
            await send_event(client, cid, ev(type="compliance_evidence_submitted",
                                             date=days_ago(1), ref="letter"))
            status = await settled(client, cid, lambda s: not s.alerts)
            assert status.status == "open"
            rows = register.case_rows(cid)
            assert [r["type"] for r in rows["events"]] == [
                "complaint_received", "formal_notice_issued",
                "compliance_evidence_submitted"]
            assert [r["name"] for r in rows["deadlines"]] == [
                "complainant_progress", "formal_notice_compliance"]
            assert register.verify()[1] is None  # the chain holds, nothing written twice
            await client.get_workflow_handle(cid).terminate(reason="test over")
    finally:
        engine.dispose()
