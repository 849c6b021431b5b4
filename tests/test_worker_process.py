"""Real processes on the dev server: `python worker.py` killed with SIGKILL in the middle of a
case, a new worker started, the case completes and the register holds each row once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine
from enforcement.models import EVENT_ADAPTER, CaseInput, CaseStatus, Controller, Event
from enforcement.temporal import SEARCH_KEYS, binary, case_status, open_case, send_event

ROOT = Path(__file__).resolve().parent.parent


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS,
        dev_server_existing_path=binary("temporal"))
    yield env
    await env.shutdown()


def start_worker(address: str, task_queue: str, db_url: str,
                 log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "ENFORCE_TASK_QUEUE": task_queue,
           "ENFORCE_DATABASE_URL": db_url}
    with log.open("wb") as sink:
        return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                                stdout=sink, stderr=subprocess.STDOUT)


async def wait_started(proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if b"worker started" in log.read_bytes():
            return
        assert proc.poll() is None, f"worker exited early: {log.read_text()[-2000:]}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker did not start: {log.read_text()[-2000:]}")


async def test_worker_killed_mid_case(dev_env: WorkflowEnvironment, register_url: str,
                                      tmp_path: Path) -> None:
    client = dev_env.client
    address = client.service_client.config.target_host
    tq = f"kill-{uuid.uuid4().hex[:6]}"
    cid = f"KILL-{uuid.uuid4().hex[:6]}"
    first = start_worker(address, tq, register_url, tmp_path / "first.log")
    try:
        await wait_started(first, tmp_path / "first.log")
        case = CaseInput(case_id=cid, controller=Controller(name="Acme", country="FR"),
                         complainant_ref="C-1",
                         events=[ev(type="complaint_received", date="2026-11-01",
                                    subject="cookies", complainant_ref="C-1")])
        await open_case(client, case, tq)
        await send_event(client, cid, ev(type="formal_notice_issued", date="2026-11-02",
                                         period="2 months"))
        # Fire-and-forget event, then the worker dies at once, mid-flight.
        await client.get_workflow_handle(cid).signal("event", {
            "case_id": cid, "event": {"type": "compliance_evidence_submitted",
                                      "date": "2026-11-20", "ref": "letter"}})
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    second = start_worker(address, tq, register_url, tmp_path / "second.log")
    try:
        await wait_started(second, tmp_path / "second.log")
        status = await send_event(client, cid, ev(type="compliance_accepted",
                                                  date="2026-11-25"))
        assert status.outcome == "complied"
        result = await client.get_workflow_handle(cid, result_type=CaseStatus).result()
        assert result.status == "closed"
        assert [t.name for t in result.timeline if t.kind == "event"] == [
            "complaint_received", "formal_notice_issued", "compliance_evidence_submitted",
            "compliance_accepted"]
        final = await case_status(client, cid)
        assert final.outcome == "complied"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert second.returncode == 0  # clean shutdown on SIGTERM
    register = Register(make_engine(register_url))
    rows = register.case_rows(cid)
    assert [r["type"] for r in rows["events"]] == [
        "complaint_received", "formal_notice_issued", "compliance_evidence_submitted",
        "compliance_accepted"]
    keys = [r["key"] for r in rows["notifications"]]
    assert len(keys) == len(set(keys))
    assert {r["party"] for r in rows["notifications"]} == {"controller", "complainant",
                                                           "case_handler"}
    assert rows["cases"][0]["status"] == "closed"
    assert rows["cases"][0]["outcome"] == "complied"
