"""Faults a year of production brings, with real processes: the dev server (file database)
restarted while cases wait on their deadlines."""

from __future__ import annotations

import socket
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Event
from enforcement.families import get_procedure
from enforcement.law.timelimits import compute_deadline
from enforcement.ops.temporal import SEARCH_KEYS, binary, case_status, open_case, send_event
from tests.fixtures_temporal import days_ago, running_worker

FR = get_procedure("fr-cnil")


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def dev_server(db: Path, port: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS, port=port,
        dev_server_existing_path=binary("temporal"), dev_server_database_filename=str(db))


async def test_dev_server_restart_keeps_waiting_cases(tmp_path: Path,
                                                      register: Register) -> None:
    db, port = tmp_path / "temporal.db", free_port()
    ids = [f"RST-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    env = await dev_server(db, port)
    try:
        async with running_worker(env.client, register) as tq:
            for n, cid in enumerate(ids):
                case = CaseInput(case_id=cid, controller=Controller(name=f"C{n}", country="FR"),
                                 events=[ev(type="complaint_received", date=days_ago(20),
                                            subject="s", complainant_ref="c"),
                                         ev(type="formal_notice_issued",
                                            date=days_ago(10 - n), period="2 months")])
                await open_case(env.client, case, tq)
            before = {cid: (await case_status(env.client, cid)).deadlines for cid in ids}
    finally:
        await env.shutdown()
    assert {cid: [d.due for d in dls if d.name == "formal_notice_compliance"]
            for cid, dls in before.items()} == {
        cid: [compute_deadline(date.fromisoformat(days_ago(10 - n)), "2 months", FR.cal,
                               FR.rules).due.isoformat()] for n, cid in enumerate(ids)}

    env = await dev_server(db, port)
    try:
        async with running_worker(env.client, register, task_queue=tq):
            after = {cid: (await case_status(env.client, cid)).deadlines for cid in ids}
            assert after == before
            status = await send_event(env.client, ids[0],
                                      ev(type="compliance_accepted", date=days_ago(1)))
            assert status.outcome == "complied"
            assert (await case_status(env.client, ids[1])).stage == "formal_notice"
    finally:
        await env.shutdown()
