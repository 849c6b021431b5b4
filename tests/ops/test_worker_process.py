"""Real processes on the dev server: `python worker.py` killed with SIGKILL in the middle of a
case (or of many, with real SMTP and webhook sinks), a new worker started, the cases complete,
every message arrives once and the register holds each row once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine
from enforcement.case.models import (
    EVENT_ADAPTER,
    CaseInput,
    CaseStatus,
    Controller,
    Event,
    EventInput,
)
from enforcement.ops.temporal import case_status, open_case, send_event
from tests.fixtures_sinks import WEBHOOK_SECRET, SmtpSink, WebhookReceiver
from tests.fixtures_temporal import days_ago

ROOT = Path(__file__).resolve().parents[2]


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


def start_worker(address: str, task_queue: str, db_url: str, log: Path,
                 extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "ENFORCE_TASK_QUEUE": task_queue,
           "ENFORCE_DATABASE_URL": db_url, **(extra or {})}
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
                         events=[ev(type="complaint_received", date=days_ago(26),
                                    subject="cookies", complainant_ref="C-1")])
        await open_case(client, case, tq)
        await send_event(client, cid, ev(type="formal_notice_issued", date=days_ago(25),
                                         period="2 months"))
        # Fire-and-forget event, then the worker dies at once, mid-flight.
        await client.get_workflow_handle(cid).signal("event", {
            "case_id": cid, "event": {"type": "compliance_evidence_submitted",
                                      "date": days_ago(7), "ref": "letter"}})
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    second = start_worker(address, tq, register_url, tmp_path / "second.log")
    try:
        await wait_started(second, tmp_path / "second.log")
        status = await send_event(client, cid, ev(type="compliance_accepted",
                                                  date=days_ago(2)))
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


# --- many cases in flight, with real sinks ------------------------------------------------------

CASES = 20
HANDLER = "handler@cnil.example"
MAIL_FROM = "CNIL <notifications@cnil.example>"
EVENT_TYPES = ["complaint_received", "formal_notice_issued", "compliance_evidence_submitted",
               "compliance_accepted"]
# Who each of a case's four events notifies: (event number, party) -> template.
MAILS = {(1, "complainant"): "complaint_received", (1, "case_handler"): "complaint_received",
         (2, "controller"): "formal_notice_issued", (2, "complainant"): "progress",
         (3, "case_handler"): "compliance_evidence_submitted",
         (4, "controller"): "compliance_accepted", (4, "complainant"): "compliance_accepted",
         (4, "case_handler"): "compliance_accepted"}
# What each case publishes, in this order: its events and the changes of its two deadlines
# (the complainant's progress, met by the formal notice; the notice's, met by compliance).
WEBHOOKS = ["event:1", "deadline:0:pending", "event:2", "deadline:0:met",
            "deadline:1:pending", "event:3", "event:4", "deadline:1:met"]


def sink_settings(smtp: SmtpSink, receivers: list[WebhookReceiver]) -> dict[str, str]:
    """The worker's environment to email through `smtp` and post webhooks to `receivers`."""
    return {"ENFORCE_SMTP_HOST": "127.0.0.1", "ENFORCE_SMTP_PORT": str(smtp.port),
            "ENFORCE_SMTP_STARTTLS": "false", "ENFORCE_SMTP_TIMEOUT_SECONDS": "5",
            "ENFORCE_MAIL_FROM": MAIL_FROM, "ENFORCE_CASE_HANDLER_EMAIL": HANDLER,
            "ENFORCE_WEBHOOK_URLS": json.dumps([r.url for r in receivers]),
            "ENFORCE_WEBHOOK_SECRET": WEBHOOK_SECRET, "ENFORCE_WEBHOOK_TIMEOUT_SECONDS": "5"}


async def test_worker_killed_with_many_cases_in_flight(
        dev_env: WorkflowEnvironment, register_url: str, tmp_path: Path, smtp_sink: SmtpSink,
        webhook_receivers: list[WebhookReceiver]) -> None:
    """20 cases get a burst of events and the worker is SIGKILLed at once, with register
    writes, mails and webhooks under way; another worker finishes: each case is closed as
    complied, each party gets each mail once, each receiver gets each webhook once (a case's
    in the case's order), and the register holds each row once, its event chains intact."""
    client = dev_env.client
    address = client.service_client.config.target_host
    tq = f"burst-{uuid.uuid4().hex[:6]}"
    run = uuid.uuid4().hex[:6]
    ids = [f"BURST-{run}-{i:02d}" for i in range(CASES)]
    to = {cid: {"controller": f"dpo@acme{i}.example", "complainant": f"plaignant{i}@example.org",
                "case_handler": HANDLER} for i, cid in enumerate(ids)}

    async def open_with_notice(cid: str) -> None:
        case = CaseInput(
            case_id=cid, controller=Controller(name=f"Acme {cid}", country="FR",
                                               email=to[cid]["controller"], language="fr"),
            complainant_ref=f"C-{cid}", complainant_email=to[cid]["complainant"],
            complainant_language="en",
            events=[ev(type="complaint_received", date=days_ago(10), subject="cookies",
                       complainant_ref=f"C-{cid}")])
        await open_case(client, case, tq, webhooks=True)
        status = await send_event(client, cid, ev(type="formal_notice_issued", date=days_ago(9),
                                                  period="2 months"))
        assert status.stage == "formal_notice"

    async def burst(cid: str) -> None:
        """Fire-and-forget, as a producer would: evidence, then compliance accepted."""
        handle = client.get_workflow_handle(cid)
        for event in (ev(type="compliance_evidence_submitted", date=days_ago(3), ref="audit"),
                      ev(type="compliance_accepted", date=days_ago(2))):
            await handle.signal("event", EventInput(case_id=cid, event=event))

    env = sink_settings(smtp_sink, webhook_receivers)
    first = start_worker(address, tq, register_url, tmp_path / "first.log", env)
    try:
        await wait_started(first, tmp_path / "first.log")
        await asyncio.gather(*(open_with_notice(cid) for cid in ids))
        await asyncio.gather(*(burst(cid) for cid in ids))
        first.send_signal(signal.SIGKILL)  # at once: the burst is being worked on
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    register = Register(make_engine(register_url))
    in_flight = (register.count("events"), len(smtp_sink.received()))
    assert in_flight[0] < len(EVENT_TYPES) * CASES and in_flight[1] < len(MAILS) * CASES, (
        f"nothing was left in flight at the kill (events, mails): {in_flight}")

    second = start_worker(address, tq, register_url, tmp_path / "second.log", env)
    try:
        await wait_started(second, tmp_path / "second.log")
        waiting = {cid: asyncio.ensure_future(
            client.get_workflow_handle(cid, result_type=CaseStatus).result()) for cid in ids}
        # A webhook batch under way at the kill is retried after its 2-minute timeout.
        _, pending = await asyncio.wait(waiting.values(), timeout=180)
        for task in pending:
            task.cancel()
        assert not pending, (f"cases not completed after the restart: "
                             f"{[cid for cid, t in waiting.items() if t in pending]}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert second.returncode == 0  # clean shutdown on SIGTERM

    # Every case reached its end, each event applied once, in order.
    for cid, task in waiting.items():
        result = task.result()
        assert (result.status, result.stage, result.outcome) == ("closed", "closed",
                                                                 "complied"), cid
        assert [t.name for t in result.timeline if t.kind == "event"] == EVENT_TYPES, cid

    # The register holds each row once.
    assert_each_row_once(register, ids, webhook_receivers)

    # Each party got each of its mails: none missing, none unexpected, at the right address.
    mails = smtp_sink.received()
    expected_mails = {f"{cid}:event:{n}:{party}" for cid in ids for n, party in MAILS}
    counts = Counter(m.key for m in mails)
    assert sorted(expected_mails - set(counts)) == [], "mails never sent"
    assert sorted(set(counts) - expected_mails) == [], "unexpected mails"
    for m in mails:
        cid, party = str(m.message["X-Enforcement-Case"]), m.key.rsplit(":", 1)[1]
        assert m.recipients == [to[cid][party]], m.key

    # Each receiver processed each webhook, a case's changes in the case's order.
    for receiver in webhook_receivers:
        # Every signature verifies, except on a post the kill cut short (its body shorter
        # than announced), which the receiver refused and the retry sent again whole.
        cut = [d for d in receiver.deliveries
               if len(d.body) < int(d.headers.get("content-length", "0"))]
        assert all(d.valid for d in receiver.deliveries if d not in cut), \
            "a webhook signature did not verify"
        assert all(d.status == 401 for d in cut)
        processed = list(receiver.processed)  # in the order first processed
        for cid in ids:
            assert [k for k in processed if k.startswith(f"{cid}:")] == [
                f"{cid}:{w}" for w in WEBHOOKS], cid
            for n, kind in enumerate(EVENT_TYPES, 1):
                assert receiver.processed[f"{cid}:event:{n}"]["type"] == \
                    f"enforcement.case.event.{kind}"
        assert len(processed) == len(WEBHOOKS) * CASES

    # And each of them once. Delivery is at least once: a worker killed after the SMTP
    # server or a receiver accepted a message, and before the register recorded it, sends it
    # again on the retry, but as the same message: one Message-ID per notification (what
    # mail systems deduplicate on) and the same webhook id (what Standard Webhooks receivers
    # deduplicate on; the receivers above processed each id once, in order).
    ids_per_key = {k: {m.message_id for m in mails if m.key == k} for k in counts}
    assert {k: v for k, v in ids_per_key.items() if len(v) != 1} == {}
    for receiver in webhook_receivers:
        copies = Counter(d.id for d in receiver.accepted())
        assert set(copies) == set(receiver.processed)
        assert max(copies.values()) <= 2, copies.most_common(3)


def assert_each_row_once(register: Register, ids: list[str],
                         webhook_receivers: list[WebhookReceiver]) -> None:
    """The register holds each of the cases' rows once (events, notifications, deadline
    changes, webhook deliveries, the closure), and the event chains are intact."""
    hooks = {f"http://127.0.0.1:{r.port}/hooks" for r in webhook_receivers}
    for cid in ids:
        rows = register.case_rows(cid)
        assert [(r["key"], r["seq"], r["type"]) for r in rows["events"]] == [
            (f"{cid}:event:{n}", n, kind) for n, kind in enumerate(EVENT_TYPES, 1)]
        assert sorted((r["key"], r["party"], r["template"], r["status"])
                      for r in rows["notifications"]) == sorted(
            (f"{cid}:event:{n}:{party}", party, template, "sent")
            for (n, party), template in MAILS.items())
        assert sorted(r["key"] for r in rows["deadline_changes"]) == sorted(
            f"{cid}:{w}" for w in WEBHOOKS if w.startswith("deadline:"))
        assert [(r["status"], r["outcome"]) for r in rows["cases"]] == [("closed", "complied")]
        assert sorted((r["key"], r["receiver"], r["status"])
                      for r in rows["webhook_deliveries"]) == sorted(
            (f"{cid}:{w}", hook, "delivered") for w in WEBHOOKS for hook in hooks)
    assert register.verify() == (len(EVENT_TYPES) * len(ids), None)  # event chains intact
