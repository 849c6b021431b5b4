"""Real sinks for notification tests, on loopback and free ports: an SMTP server (aiosmtpd)
and a webhook receiver (http.server) that verifies Standard Webhooks signatures and
deduplicates on the webhook id, as a real receiver would. Both can be stopped for a while
and started again on the same port (an outage), told to answer the next messages with a
temporary failure, or to refuse some for good."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from activities.webhooks import verify

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


# --- SMTP -------------------------------------------------------------------------------------

@dataclass
class Mail:
    """One message the SMTP sink accepted."""

    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def key(self) -> str:
        return str(self.message["X-Enforcement-Key"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it accepts."""

    def __init__(self, *, auth: tuple[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.auth = auth
        self.tls_context = tls_context
        self.lock = threading.Lock()
        self.mails: list[Mail] = []
        self.refused_domains: set[str] = set()
        self.temporary_failures = 0  # answer the next DATA commands with 451
        self.attempts = 0  # DATA commands received, accepted or not
        self.logins: list[str] = []
        self.tls_sessions = 0
        self.controller: Controller | None = None

    # handler hooks (aiosmtpd calls them in its own thread)
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.rpartition("@")[2].lower() in self.refused_domains:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.attempts += 1
            if session.ssl is not None:
                self.tls_sessions += 1
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return "451 4.3.0 temporarily unable to accept the message"
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 2.0.0 accepted"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.auth is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.tls_context is not None)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    # reading
    def received(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)

    def by_key(self) -> dict[str, list[Mail]]:
        out: dict[str, list[Mail]] = {}
        for m in self.received():
            out.setdefault(m.key, []).append(m)
        return out


# --- webhooks ---------------------------------------------------------------------------------

@dataclass
class Delivery:
    """One POST the receiver got."""

    id: str
    headers: dict[str, str]
    body: bytes
    valid: bool
    status: int

    @property
    def event(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body)
        return out


@dataclass
class WebhookReceiver:
    """A webhook endpoint on 127.0.0.1: verifies the signature (401 when it does not match),
    answers the next POSTs with the scripted statuses (200 in a script: as usual), refuses
    the event types of `refuse_types`, and processes each webhook id once (a repeat is
    acknowledged with 200 and not processed again)."""

    secret: str = WEBHOOK_SECRET
    port: int = field(default_factory=free_port)
    script: deque[int] = field(default_factory=deque)  # statuses of the next POSTs
    refuse_types: dict[str, int] = field(default_factory=dict)  # event type -> status
    deliveries: list[Delivery] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?token=t0ps3cret"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = verify(receiver.secret, headers, body)
                msg_id = headers.get("webhook-id", "")
                with receiver.lock:
                    if not valid:
                        status = 401
                    else:
                        status = receiver.script.popleft() if receiver.script else 200
                        kind = json.loads(body).get("type")
                        if status == 200 and kind in receiver.refuse_types:
                            status = receiver.refuse_types[kind]
                        if status == 200:
                            receiver.processed.setdefault(msg_id, json.loads(body))
                    receiver.deliveries.append(Delivery(msg_id, headers, body, valid, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        return Handler

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            assert self.thread is not None
            self.thread.join(5)
            self.server = None

    def accepted(self) -> list[Delivery]:
        """Deliveries answered 200, repeats included."""
        with self.lock:
            return [d for d in self.deliveries if d.status == 200]


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook_receivers() -> Iterator[list[WebhookReceiver]]:
    """Two endpoints, as two subscribers of the engine's webhooks."""
    receivers = [WebhookReceiver(), WebhookReceiver()]
    for r in receivers:
        r.start()
    yield receivers
    for r in receivers:
        r.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI), and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_smtp_sink(tls_files: tuple[Path, Path]) -> Iterator[SmtpSink]:
    """An SMTP server that requires STARTTLS and authentication."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SmtpSink(auth=("engine", "s3cret"), tls_context=context)
    sink.start()
    yield sink
    sink.stop()
