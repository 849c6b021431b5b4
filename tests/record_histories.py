"""Records the histories replayed by tests/workflows/test_replay.py: the full Clearview path on the
time-skipping server, parent and sanction child (recorded before the legal-time patches),
and a case whose referral is undone and whose notice is corrected (`amended`: the referral
waits its grace, the sanction child hands the case back, a correction recomputes it), and
a case driven by updates as the API drives it (`updates`). Run
after a deliberate, patched change of workflow code, naming what to record again:
`.venv/bin/python -m tests.record_histories clearview amended updates`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.ops.temporal import binary
from enforcement.simulation.engine import SimCase, simulate
from tests.fixtures_temporal import running_worker
from tests.workflows.test_workflows import CLEARVIEW, clearview_case, ev

HERE = Path(__file__).resolve().parent / "histories"


def amended() -> list[SimCase]:
    """A notice recorded as 10 days from Tue 1 Mar 2022 (due Fri 11 Mar, referred Sat 19 Mar
    after the grace), corrected on 21 Mar to 1 month (due Fri 1 Apr: the case comes back
    from the sanction stage); unanswered again, referred Sat 9 Apr; a rapporteur, then the
    referral undone on 21 Apr and a late compliance accepted on 22 Apr."""
    case = clearview_case("AMENDED").model_copy(update={"events": CLEARVIEW[:1]})
    return [SimCase(case, [
        ev(type="formal_notice_issued", date="2022-03-01", period="10 days"),
        ev(type="event_corrected", date="2022-03-21", seq=2, reason="the notice says 1 month",
           corrected={"type": "formal_notice_issued", "date": "2022-03-01",
                      "period": "1 month"}),
        ev(type="rapporteur_designated", date="2022-04-20"),
        ev(type="referral_undone", date="2022-04-21", reason="evidence sent in time"),
        ev(type="compliance_accepted", date="2022-04-22")], date(2022, 6, 30))]


async def by_updates(env: WorkflowEnvironment, task_queue: str) -> None:
    """A case driven by updates, as the API drives it (`updates`): a notice, the
    controller's evidence under an id the authority then uses too (each its own), the
    authority's acceptance; the answers are small."""
    from enforcement.case.models import CaseInput, Controller
    from enforcement.ops.temporal import open_case, send_event

    case = CaseInput(case_id="replay-UPDATES", controller=Controller(name="X", country="FR"),
                     events=[ev(type="complaint_received", date="2026-11-02", subject="s",
                                complainant_ref="c")])
    await open_case(env.client, case, task_queue, search_attributes=False)
    cid = case.case_id
    await send_event(env.client, cid, ev(type="formal_notice_issued", date="2026-11-03",
                                         period="2 months"))
    await send_event(env.client, cid, ev(type="compliance_evidence_submitted",
                                         date="2026-11-04", ref="letter", id="ok-1"),
                     by="Clearview AI Inc.", role="controller")
    await send_event(env.client, cid, ev(type="compliance_accepted", date="2026-11-05",
                                         id="ok-1"), by="case handler", role="regulator")
    await env.client.get_workflow_handle(cid).result()


RECORDINGS = {
    "clearview": (lambda: [SimCase(clearview_case().model_copy(update={"events": CLEARVIEW[:1]}),
                                   CLEARVIEW[1:], date(2023, 5, 10))],
                  (("replay-MED-2021-134", "clearview_case.json"),
                   ("replay-MED-2021-134:sanction", "clearview_sanction.json"))),
    "amended": (amended, (("replay-AMENDED", "amended_case.json"),
                          ("replay-AMENDED:sanction", "amended_sanction.json"))),
    "updates": (list, (("replay-UPDATES", "updates_case.json"),)),
}


async def main(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/register.db"
        migrate(url)
        register = Register(make_engine(url))
        for name in names:
            cases, files = RECORDINGS[name]
            async with running_worker(env.client, register) as tq:
                if name == "updates":
                    await by_updates(env, tq)
                else:
                    await simulate(env, tq, cases(), prefix="replay-")
            for wid, file in files:
                history = await env.client.get_workflow_handle(wid).fetch_history()
                (HERE / file).write_text(history.to_json())
                print(f"recorded {file}: {len(history.events)} events")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or list(RECORDINGS)))
