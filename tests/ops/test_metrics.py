"""The worker's Prometheus endpoint, scraped as Prometheus would: a real `python worker.py`
on the dev server with a real SMTP sink; the engine's counters and gauge and the SDK's
metrics on one page, and a restarted worker that replays a case does not count it again."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Event
from enforcement.ops.temporal import CaseError, case_status, open_case, send_event
from tests.fixtures_sinks import SmtpSink, free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


def scrape(port: int) -> Samples:
    """Every sample of the endpoint: (name, labels, value)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            out.append((m[1], dict(LABEL.findall(m[2] or "")), float(m[3])))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there are none)."""
    return sum(v for n, lab, v in samples
               if n == name and all(lab.get(k) == x for k, x in labels.items()))


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.port = free_port()
        with log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env, "ENFORCE_METRICS_ADDRESS": f"127.0.0.1:{self.port}",
                     "ENFORCE_METRICS_INTERVAL_SECONDS": "0.5"})

    async def started(self) -> None:
        for _ in range(600):
            if b"worker started" in self.log.read_bytes():
                return
            assert self.proc.poll() is None, f"worker exited: {self.log.read_text()[-2000:]}"
            await asyncio.sleep(0.1)
        raise AssertionError(f"worker did not start: {self.log.read_text()[-2000:]}")

    async def until(self, check: Any, what: str) -> Samples:
        samples: Samples = []
        for _ in range(200):
            samples = await asyncio.to_thread(scrape, self.port)
            if check(samples):
                return samples
            await asyncio.sleep(0.2)
        raise AssertionError(f"{what} never showed on /metrics; last page: {samples}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


async def test_engine_and_sdk_metrics_on_the_worker_endpoint(
        dev_env: WorkflowEnvironment, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    client = dev_env.client
    tq = f"metrics-{uuid.uuid4().hex[:6]}"
    cid = f"MET-{uuid.uuid4().hex[:6]}"
    smtp_sink.refused_domains = {"refused.example"}
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "ENFORCE_TASK_QUEUE": tq, "ENFORCE_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "ENFORCE_SMTP_HOST": "127.0.0.1", "ENFORCE_SMTP_PORT": str(smtp_sink.port),
           "ENFORCE_SMTP_STARTTLS": "false", "ENFORCE_CASE_HANDLER_EMAIL": "h@cnil.example"}
    first = WorkerProcess(env, tmp_path / "first.log")
    try:
        await first.started()
        # Dated in 2020: the complainant's 3 months and the notice's 2 months have long run
        # out, so each deadline is missed as soon as it is opened, and the case is referred.
        await open_case(client, CaseInput(
            case_id=cid, controller=Controller(name="Acme", country="FR",
                                               email="dpo@refused.example"),
            complainant_ref="C-1", events=[
                ev(type="complaint_received", date="2020-01-06", subject="cookies",
                   complainant_ref="C-1")]), tq)
        await send_event(client, cid, ev(type="investigation_opened", date="2020-06-01",
                                         kind="online"))
        await send_event(client, cid, ev(type="formal_notice_issued", date="2020-06-02",
                                         period="2 months"))
        for _ in range(100):
            if (await case_status(client, cid)).stage == "referred":
                break
            await asyncio.sleep(0.1)
        try:
            await send_event(client, cid, ev(type="hearing_held", date="2020-06-01"))
            raise AssertionError("hearing_held was accepted at the referral")
        except CaseError as exc:
            assert "does not fit the case at stage 'referred'" in str(exc)

        def complete(s: Samples) -> bool:
            return (value(s, "enforcement_notifications_failed_total") >= 2
                    and value(s, "enforcement_cases", stage="referred", status="open") >= 1)

        samples = await first.until(complete, "the failed notification and the referral")
        assert value(samples, "enforcement_deadlines_missed_total",
                     deadline="complainant_progress", procedure="fr-cnil") == 1
        assert value(samples, "enforcement_deadlines_missed_total",
                     deadline="formal_notice_compliance", procedure="fr-cnil") == 1
        assert value(samples, "enforcement_notifications_failed_total",
                     template="formal_notice_issued", party="controller") == 1
        assert value(samples, "enforcement_notifications_failed_total",
                     template="referred_to_sanction", party="controller") == 1
        # the controller's two messages and nothing else (the handler's went through)
        assert value(samples, "enforcement_notifications_failed_total") == 2
        assert value(samples, "enforcement_event_rejections_total",
                     event_type="hearing_held", stage="referred") == 1
        assert value(samples, "enforcement_cases", stage="referred", status="open") == 1
        # the SDK's own metrics, on the same page
        names = {n for n, _, _ in samples}
        assert "temporal_workflow_task_execution_latency_count" in names, sorted(names)
        assert value(samples, "temporal_activity_execution_failed_total") >= 1
    finally:
        first.stop(signal.SIGKILL)

    # A new worker replays the case (a query has no cache to use): nothing counted again.
    second = WorkerProcess(env, tmp_path / "second.log")
    try:
        await second.started()
        assert (await case_status(client, cid)).stage == "referred"
        samples = await second.until(
            lambda s: value(s, "enforcement_cases", stage="referred", status="open") == 1,
            "the cases gauge on the new worker")
        assert value(samples, "enforcement_deadlines_missed_total") == 0
        assert value(samples, "enforcement_notifications_failed_total") == 0
    finally:
        second.stop()
    assert second.proc.returncode == 0


def test_an_address_that_cannot_be_served_stops_the_worker_with_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, "ENFORCE_METRICS_ADDRESS": "nonsense",
                         "TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert done.returncode == 2
    assert "cannot serve metrics on 'nonsense'" in done.stdout + done.stderr
    assert "set ENFORCE_METRICS_ADDRESS to a free host:port" in done.stdout + done.stderr
