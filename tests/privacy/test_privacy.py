"""Personal data of a case is stored by Temporal only encrypted: a case with a complainant,
a controller's name and address, a subject, measures, reasons and an evidence reference runs
on the time-skipping server with the encrypted data converter; its raw history, read without
the codec, holds none of those values, while a client with the codec reads the case as usual.
Keys rotate; a payload under a key that is gone fails with an error naming its key id. The
codec server is exercised over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import Notifier
from activities.register import Register
from activities.webhooks import WebhookPublisher
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Event
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import CaseError, binary, case_status, open_case, send_event
from enforcement.privacy.codec import (
    ENCODING,
    KEY_ID_METADATA,
    PLAIN_CONVERTER,
    DecryptionFailed,
    EncryptionCodec,
    EncryptionConfigError,
    KeyRing,
    UnknownEncryptionKey,
    data_converter,
    key_bytes,
    new_key,
)
from enforcement.privacy.codec_server import create_app
from enforcement.simulation.engine import SimCase, simulate
from tests.privacy.test_redact import _configured as configured_logs
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure
from workflows.driver import EventDriver

D = date.fromisoformat
KEY_A, KEY_B = new_key(), new_key()

# The personal data of the case, each value unique enough that finding it means a leak.
COMPLAINANT_REF = "CPL-Zoé-Martin-7731"
COMPLAINANT_EMAIL = "zoe.martin.7731@example.org"
CONTROLLER_NAME = "Acme Facial Analytics Ségur SARL"
CONTROLLER_EMAIL = "dpo-7731@acme-facial.example"
SUBJECT = "photos of Zoé Martin scraped from her family blog"
MEASURE = "delete every image of Zoé Martin's children"
SUSPEND_REASON = "Zoé Martin in hospital until the 20th"
RESUME_REASON = "Zoé Martin back, hearing by phone 06 12 34 56 78"
EVIDENCE_REF = "EVID-7731-deletion-certificate-zoe"
CLOSE_REASON = "settled with Zoé Martin after the deletion"
PERSONAL = [COMPLAINANT_REF, COMPLAINANT_EMAIL, CONTROLLER_NAME, CONTROLLER_EMAIL, SUBJECT,
            MEASURE, SUSPEND_REASON, RESUME_REASON, EVIDENCE_REF, CLOSE_REASON,
            "Zoé Martin", "Zoé"]


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


def settings(keys: dict[str, str], current: str | None = None, **more: Any) -> Settings:
    return Settings(encryption_keys={k: SecretStr(v) for k, v in keys.items()},
                    encryption_key_id=current, **more)


def converter(keys: dict[str, str], current: str | None = None) -> DataConverter:
    return data_converter(settings(keys, current))


def personal_case(case_id: str) -> CaseInput:
    return CaseInput(
        case_id=case_id, procedure="fr-cnil",
        controller=Controller(name=CONTROLLER_NAME, country="FR", email=CONTROLLER_EMAIL),
        complainant_ref=COMPLAINANT_REF, complainant_email=COMPLAINANT_EMAIL, subject=SUBJECT,
        events=[ev(type="complaint_received", date="2024-01-10", subject=SUBJECT,
                   complainant_ref=COMPLAINANT_REF)])


SCRIPT = [
    ev(type="investigation_opened", date="2024-02-01", kind="online"),
    ev(type="formal_notice_issued", date="2024-03-01", period="1 month", measures=[MEASURE]),
    ev(type="case_suspended", date="2024-03-05", reason=SUSPEND_REASON),
    ev(type="case_resumed", date="2024-03-20", reason=RESUME_REASON),
    ev(type="compliance_evidence_submitted", date="2024-05-13", ref=EVIDENCE_REF),
    ev(type="case_closed", date="2024-06-03", reason=CLOSE_REASON),
]


def forms(value: str) -> list[bytes]:
    """The ways a value can be spelled in stored bytes: UTF-8, and JSON-escaped ASCII."""
    return list({value.encode(), json.dumps(value)[1:-1].encode()})


def leaks(blob: bytes) -> list[str]:
    return [v for v in PERSONAL if any(f in blob for f in forms(v))]


def payloads_in(msg: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a protobuf message (fields, lists, maps, nesting)."""
    if isinstance(msg, Payload):
        yield msg
        return
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [v for v in value.values() if isinstance(v, Message)]
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            yield from payloads_in(item)


async def raw_history(client: Client, workflow_id: str) -> History:
    """The history as the server stores it, read by a client without any codec."""
    bare = Client(client.service_client, namespace=client.namespace)
    fetched = await bare.get_workflow_handle(workflow_id).fetch_history()
    return History(events=fetched.events)


async def existing(client: Client, ids: list[str]) -> list[str]:
    found = []
    for wid in ids:
        try:
            await client.get_workflow_handle(wid).describe()
        except Exception:
            continue
        found.append(wid)
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def enc_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose client encrypts with key-a; one per test, because a test
    that ends with its case mid-task leaves a time-skipping server unable to skip time."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=converter({"key-a": KEY_A}),
        test_server_existing_path=binary("temporal-test-server"))
    yield env
    await env.shutdown()


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The engine's logging configuration, writing to a buffer; restored afterwards."""
    yield from configured_logs(json=True)


# --- the case on Temporal -----------------------------------------------------------------

async def test_history_holds_no_personal_data_in_clear(
        enc_env: WorkflowEnvironment, register: Register) -> None:
    client = enc_env.client
    prefix = f"priv-{uuid.uuid4().hex[:6]}-"
    outbox = MailOutbox()
    notifier = Notifier(register, Settings(case_handler_email="handler@cnil.example"),
                        sender=outbox)
    tq = f"tq-priv-{uuid.uuid4().hex[:8]}"
    with captured_logs() as logs:
        async with engine_worker(client, register, tq, notifier=notifier):
            [status] = await simulate(enc_env, tq, [SimCase(personal_case("PRIV-1"), SCRIPT,
                                                            D("2024-06-30"))], prefix=prefix)
            again = await case_status(client, prefix + "PRIV-1")
    # The client with the codec reads the case as usual.
    assert status.status == "closed"
    assert status.controller.name == CONTROLLER_NAME
    assert status.controller.email == CONTROLLER_EMAIL
    assert status.subject == SUBJECT
    assert "referred_to_sanction" in [t.name for t in status.timeline]
    assert again.controller.email == CONTROLLER_EMAIL
    case_id = prefix + "PRIV-1"

    ids = await existing(client, [case_id, f"{case_id}:sanction"])
    assert len(ids) == 2, ids  # the case and its sanction procedure
    in_clear_with_the_key = set()
    codec = client.data_converter.payload_codec
    assert codec is not None
    for wid in ids:
        history = await raw_history(client, wid)
        assert len(history.events) > 5
        # Not one byte of any event, payload or not, spells a personal value.
        for event in history.events:
            found = leaks(event.SerializeToString())
            assert not found, (f"{wid} event {event.event_id} "
                               f"({event.WhichOneof('attributes')}) holds {found} in clear")
        stored = [p for e in history.events for p in payloads_in(e)]
        encrypted = [p for p in stored if p.metadata.get("encoding") == ENCODING]
        assert encrypted, f"{wid}: no encrypted payload at all"
        assert {p.metadata[KEY_ID_METADATA] for p in encrypted} == {b"key-a"}
        # Those payloads do carry the data: decoded with the key ring, it is all there.
        decoded = b"".join(p.SerializeToString() for p in await codec.decode(stored))
        if wid == case_id:
            assert set(leaks(decoded)) >= {COMPLAINANT_EMAIL, CONTROLLER_NAME, CONTROLLER_EMAIL,
                                           SUBJECT, COMPLAINANT_REF, MEASURE, SUSPEND_REASON}
        in_clear_with_the_key |= set(leaks(decoded))
    # the scripted events travel in the workflows' inputs, encrypted like the rest
    assert in_clear_with_the_key >= {EVIDENCE_REF, CLOSE_REASON, RESUME_REASON}

    # And the worker's logs (activities and workflow.logger alike) carry none of it, though
    # the mails went out to those addresses and the worker logged each sending.
    recipients = {m["To"] for m in outbox.sent}
    assert {COMPLAINANT_EMAIL, CONTROLLER_EMAIL} <= recipients
    text = logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    sent = [line for line in lines if line["event"] == "notify.sent"]
    assert len(sent) == len(outbox.sent) and all(line["to"] == "[redacted]" for line in sent)
    assert not leaks(text.encode()), leaks(text.encode())
    assert "handler@cnil.example" not in text


async def test_key_rotation_keeps_older_payloads_readable(
        enc_env: WorkflowEnvironment, register: Register) -> None:
    """The case starts under key-a; the key ring then gains key-b as its current key: the
    worker replays the case's key-a history, new payloads are sealed with key-b, and a ring
    without key-a names the key it lacks."""
    client_a = enc_env.client
    client_ab = Client(client_a.service_client, namespace=client_a.namespace,
                       data_converter=converter({"key-a": KEY_A, "key-b": KEY_B}, "key-b"))
    case = personal_case(f"ROT-{uuid.uuid4().hex[:6]}")
    tq = f"tq-rot-{uuid.uuid4().hex[:8]}"
    with enc_env.auto_time_skipping_disabled():
        async with engine_worker(client_a, register, tq, cache=False):
            await open_case(client_a, case, tq, search_attributes=False)
            first = await case_status(client_a, case.case_id)
            assert first.subject == SUBJECT and first.stage == "complaint"
        # Rotation: every process restarts with the new ring; the new worker replays the
        # case's key-a history.
        async with engine_worker(client_ab, register, tq, cache=False):
            status = await send_event(client_ab, case.case_id, ev(
                type="case_suspended", date="2024-02-01", reason=SUSPEND_REASON))
            assert status.subject == SUBJECT
            assert status.controller.email == CONTROLLER_EMAIL
            assert (await case_status(client_ab, case.case_id)).stage == status.stage
            # A refusal's message travels encrypted too, and reads normally with the codec.
            with pytest.raises(CaseError, match="hearing_held does not fit the case at "
                               "stage 'complaint'; accepted now: investigation_opened"):
                await send_event(client_ab, case.case_id,
                                 ev(type="hearing_held", date="2024-02-02"))

    history = await raw_history(client_a, case.case_id)
    stored = [p for e in history.events for p in payloads_in(e)]
    key_ids = {p.metadata[KEY_ID_METADATA] for p in stored
               if p.metadata.get("encoding") == ENCODING}
    assert key_ids == {b"key-a", b"key-b"}
    assert not any(leaks(e.SerializeToString()) for e in history.events)
    # The rotated ring opens everything; a ring that dropped key-a says what it misses.
    ring_ab = client_ab.data_converter.payload_codec
    assert ring_ab is not None
    assert set(leaks(b"".join(p.SerializeToString() for p in await ring_ab.decode(stored))))\
        >= {SUBJECT, SUSPEND_REASON}
    only_b = EncryptionCodec(KeyRing({"key-b": key_bytes("key-b", KEY_B)}))
    with pytest.raises(UnknownEncryptionKey) as err:
        await only_b.decode(stored)
    assert "'key-a'" in str(err.value) and "key-b" in str(err.value)
    # A client without key-a cannot read the case's input either, and says why.
    client_b = Client(client_a.service_client, namespace=client_a.namespace,
                      data_converter=converter({"key-b": KEY_B}))
    started = history.events[0].workflow_execution_started_event_attributes
    with pytest.raises(UnknownEncryptionKey, match="key id 'key-a'"):
        await client_b.data_converter.decode(started.input.payloads)


@contextlib.asynccontextmanager
async def engine_worker(client: Client, register: Register, task_queue: str, *,
                        notifier: Notifier | None = None, cache: bool = True
                        ) -> AsyncIterator[None]:
    """The engine's worker (as tests.fixtures_temporal.running_worker, with a mail sender
    of the test's and the cache switchable) on `task_queue`.
    Without a cache there is no sticky queue, so the next worker on the queue (here: one
    with another key ring) takes over at once and replays each case's whole history."""
    notifier = notifier or Notifier(register)
    webhooks = WebhookPublisher(None)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(client, task_queue=task_queue,
                          workflows=[EnforcementCase, SanctionProcedure, EventDriver],
                          activities=[register.record, notifier.deliver, webhooks.publish],
                          activity_executor=executor, workflow_runner=workflow_runner(),
                          max_cached_workflows=1000 if cache else 0):
            yield


class MailOutbox:
    """A mail sender that keeps what it is given, answering like an SMTP server that
    quotes the recipient (as many do): the worker then has addresses in hand to log."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> str:
        self.sent.append(message)
        return f"250 2.0.0 queued for <{message['To']}>"


# --- the codec, alone ---------------------------------------------------------------------

async def test_codec_round_trip_and_tamper() -> None:
    conv = converter({"key-a": KEY_A})
    [sealed] = await conv.encode([{"email": COMPLAINANT_EMAIL}])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata[KEY_ID_METADATA] == b"key-a"
    assert not leaks(sealed.SerializeToString())
    [again] = await conv.encode([{"email": COMPLAINANT_EMAIL}])
    assert again.data[:12] != sealed.data[:12]  # a fresh nonce for every payload
    assert await conv.decode([sealed], [dict]) == [{"email": COMPLAINANT_EMAIL}]
    # A payload passed off under another id, or altered, does not open.
    forged = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"key-b"},
                     data=sealed.data)
    same_key_two_ids = converter({"key-a": KEY_A, "key-b": KEY_A}, "key-a")
    with pytest.raises(DecryptionFailed, match="key-b"):
        await same_key_two_ids.decode([forged], [dict])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        await conv.decode([Payload(metadata=sealed.metadata, data=bytes(flipped))], [dict])
    # Payloads written before encryption was turned on still read.
    [plain] = await pydantic_data_converter.encode([{"email": "x@example.org"}])
    assert await conv.decode([plain], [dict]) == [{"email": "x@example.org"}]


def test_configuration_errors_name_key_ids_never_keys() -> None:
    assert data_converter(Settings()) is PLAIN_CONVERTER
    bad = {"k1": "c2hvcnQ="}  # "short"
    with pytest.raises(EncryptionConfigError, match="'k1' holds 5 bytes") as err:
        converter(bad)
    assert "c2hvcnQ" not in str(err.value)
    with pytest.raises(EncryptionConfigError, match="not valid base64"):
        converter({"k1": "not base64!!"})
    with pytest.raises(EncryptionConfigError, match="several keys"):
        converter({"k1": KEY_A, "k2": KEY_B})
    with pytest.raises(EncryptionConfigError, match="'k3' is not among"):
        converter({"k1": KEY_A}, "k3")
    with pytest.raises(EncryptionConfigError, match="ENFORCE_ENCRYPTION_KEYS is empty"):
        data_converter(Settings(encryption_key_id="k1"))


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENFORCE_ENCRYPTION_KEYS", json.dumps({"2026-01": KEY_A,
                                                              "2026-07": KEY_B}))
    monkeypatch.setenv("ENFORCE_ENCRYPTION_KEY_ID", "2026-07")
    monkeypatch.setenv("ENFORCE_CODEC_SERVER_CORS_ORIGINS", "https://ui.example, "
                       "http://localhost:8080")
    s = Settings()
    assert s.encryption_configured and s.encryption_key_id == "2026-07"
    assert KEY_A not in repr(s) and KEY_B not in repr(s)
    assert s.codec_server_cors_origins == ["https://ui.example", "http://localhost:8080"]
    ring = KeyRing.from_settings(s)
    assert ring.current == "2026-07" and ring.ids == ("2026-01", "2026-07")


# --- the codec server, over HTTP ----------------------------------------------------------

TOKEN = "codec-test-token-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def codec_url() -> AsyncIterator[str]:
    """The codec server under uvicorn on a free loopback port, ring {key-a, key-b}, key-b
    current."""
    app = create_app(settings({"key-a": KEY_A, "key-b": KEY_B}, "key-b",
                              codec_server_token=SecretStr(TOKEN),
                              codec_server_cors_origins=["http://localhost:8080"]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


def body(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def parsed(answer: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in answer["payloads"]]


async def test_codec_server_round_trip(codec_url: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    plain = pydantic_data_converter.payload_converter.to_payloads(
        [{"complainant_email": COMPLAINANT_EMAIL}, SUBJECT])
    async with httpx.AsyncClient(base_url=codec_url, timeout=10) as http:
        enc = await http.post("/encode", json=body(plain), headers=auth)
        assert enc.status_code == 200, enc.text
        assert not leaks(enc.content)
        sealed = parsed(enc.json())
        assert [p.metadata[KEY_ID_METADATA] for p in sealed] == [b"key-b", b"key-b"]
        assert all(p.metadata["encoding"] == ENCODING for p in sealed)
        # The wire format is the protocol's: base64 metadata values and data.
        wire = enc.json()["payloads"][0]
        assert wire["metadata"]["encoding"] == "YmluYXJ5L2VuY3J5cHRlZA=="
        dec = await http.post("/decode", json=enc.json(), headers=auth)
        assert dec.status_code == 200, dec.text
        assert parsed(dec.json()) == plain
        # What the worker wrote under the older key-a decodes too (rotation).
        old = await converter({"key-a": KEY_A}).encode([SUBJECT])
        dec = await http.post("/decode", json=body(old), headers=auth)
        assert pydantic_data_converter.payload_converter.from_payloads(
            parsed(dec.json()), [str]) == [SUBJECT]
        # An unknown key id is refused by name.
        gone = await converter({"key-z": new_key()}).encode([SUBJECT])
        dec = await http.post("/decode", json=body(gone), headers=auth)
        assert dec.status_code == 422 and "'key-z'" in dec.json()["detail"]
        # Malformed bodies and empty batches.
        bad = await http.post("/decode", content=b"{not json", headers=auth)
        assert bad.status_code == 400
        empty = await http.post("/decode", json={"payloads": []}, headers=auth)
        assert empty.status_code == 200 and empty.json() == {"payloads": []}
        assert (await http.get("/health")).json() == {"status": "ok"}


async def test_codec_server_requires_the_token(codec_url: str) -> None:
    sealed = await converter({"key-b": KEY_B}).encode([SUBJECT])
    async with httpx.AsyncClient(base_url=codec_url, timeout=10) as http:
        for path in ("/encode", "/decode"):
            for headers in ({}, {"Authorization": "Bearer wrong-token"},
                            {"Authorization": f"Basic {TOKEN}"},
                            {"Authorization": TOKEN}):
                r = await http.post(path, json=body(sealed), headers=headers)
                assert r.status_code == 401, (path, headers, r.status_code)
                assert r.headers["www-authenticate"] == "Bearer"
                assert SUBJECT not in r.text


async def test_codec_server_cors_for_the_ui(codec_url: str) -> None:
    async with httpx.AsyncClient(base_url=codec_url, timeout=10) as http:
        pre = await http.options("/decode", headers={
            "Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://localhost:8080"
        allowed = pre.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "x-namespace" in allowed
        other = await http.options("/decode", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_codec_server_refuses_to_run_without_token_or_keys() -> None:
    with pytest.raises(EncryptionConfigError, match="ENFORCE_CODEC_SERVER_TOKEN"):
        create_app(settings({"key-a": KEY_A}))
    with pytest.raises(EncryptionConfigError, match="ENFORCE_ENCRYPTION_KEYS"):
        create_app(Settings(codec_server_token=SecretStr("t")))


def test_converter_is_a_replaced_pydantic_converter() -> None:
    conv = converter({"key-a": KEY_A})
    assert isinstance(conv.payload_codec, EncryptionCodec)
    assert conv.payload_converter_class is PLAIN_CONVERTER.payload_converter_class
    # The plain converter writes what pydantic_data_converter writes: histories recorded
    # with either read with the other.
    value = CaseInput.model_validate({"case_id": "C-1", "controller": {
        "name": CONTROLLER_NAME, "country": "FR"}})
    assert (PLAIN_CONVERTER.payload_converter.to_payloads([value])
            == pydantic_data_converter.payload_converter.to_payloads([value]))
    assert dataclasses.replace(conv, payload_codec=None).payload_codec is None
