"""Records the histories replayed by tests/test_replay.py: the full Clearview path on the
time-skipping server, parent and sanction child. Run after a deliberate, patched change of
workflow code: `.venv/bin/python -m tests.record_histories`."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.simulation import SimCase, simulate
from enforcement.temporal import binary
from tests.fixtures_temporal import running_worker
from tests.test_workflows import CLEARVIEW, clearview_case

HERE = Path(__file__).resolve().parent / "histories"


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/register.db"
        migrate(url)
        register = Register(make_engine(url))
        async with running_worker(env.client, register) as tq:
            case = clearview_case().model_copy(update={"events": CLEARVIEW[:1]})
            await simulate(env, tq, [SimCase(case, CLEARVIEW[1:], date(2023, 5, 10))],
                           prefix="replay-")
        for wid, name in (("replay-MED-2021-134", "clearview_case.json"),
                          ("replay-MED-2021-134:sanction", "clearview_sanction.json")):
            history = await env.client.get_workflow_handle(wid).fetch_history()
            (HERE / name).write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
