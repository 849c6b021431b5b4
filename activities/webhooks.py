"""Webhooks: every case event and deadline change of a register batch is posted to each
configured endpoint as a CloudEvents 1.0 JSON event (structured mode), signed per the
Standard Webhooks scheme.

Headers: `webhook-id` (the register entry's idempotency key, also the CloudEvent `id`: the
same for every retry, so receivers deduplicate on it), `webhook-timestamp` (Unix seconds of
the attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
keyed with the base64-decoded part of the `whsec_` secret).

Each endpoint gets a batch's events in order. 2xx: delivered. 429, 408, 5xx, connection
errors and timeouts: transient, the activity is retried (after `Retry-After` when the receiver
gives one); the messages already delivered are kept in the activity's heartbeat details and
not sent again on the next attempt (best effort: receivers deduplicate on the id anyway).
Any other status (4xx, 3xx): permanent, the activity fails non-retryable naming them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import PERMANENT, DeliveryFailure, activity_error
from activities.register import Register
from enforcement.case.models import RegisterBatch, RegisterEntry
from enforcement.ops.settings import Settings, webhook_key

log = structlog.get_logger(__name__)

# Register tables whose entries are published: case events and deadline changes.
WEBHOOK_TABLES: tuple[str, ...] = ("events", "deadlines")
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
TYPE_PREFIX = "enforcement"
MAX_RETRY_AFTER = timedelta(minutes=10)
TOLERANCE_SECONDS = 5 * 60


# --- the event and its signature --------------------------------------------------------------

def _event_type(entry: RegisterEntry) -> str:
    if entry.table == "events":
        return f"{TYPE_PREFIX}.case.event.{entry.data.get('type', 'unknown')}"
    step = entry.key.removeprefix(f"{entry.case_id}:")
    status = str(entry.data.get("status", "unknown"))
    if status == "pending":
        status = "moved" if ":suspended:" in step else "opened"
    return f"{TYPE_PREFIX}.deadline.{status}"


def cloud_event(entry: RegisterEntry, source: str) -> dict[str, Any]:
    """The CloudEvents 1.0 event for one register entry; `id` is the entry's key."""
    subject = (str(entry.data.get("name", "")) if entry.table == "deadlines"
               else str(entry.data.get("type", "")))
    return {
        "specversion": "1.0",
        "id": entry.key,
        "source": source,
        "type": _event_type(entry),
        "subject": f"{entry.case_id}/{subject}" if subject else entry.case_id,
        "time": entry.at.isoformat(),
        "datacontenttype": "application/json",
        "data": {"case_id": entry.case_id, "kind": entry.table[:-1], **entry.data},
    }


def body_of(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`."""
    mac = hmac.new(webhook_key(secret), f"{msg_id}.{timestamp}.".encode() + body,
                   hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def verify(secret: str, headers: Mapping[str, str], body: bytes,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the timestamp is recent and one `v1` signature matches."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, sigs = (lower.get("webhook-id"), lower.get("webhook-timestamp"),
                           lower.get("webhook-signature"))
    if not (msg_id and stamp and sigs) or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(stamp), body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in sigs.split()
               if s.startswith("v1,"))


# --- posting ----------------------------------------------------------------------------------

HEARTBEAT_EVERY = 5.0  # seconds; the workflow's heartbeat timeout is a few times this


async def _heartbeats(progress: dict[str, list[str]]) -> None:
    """Heartbeat while posts are in flight (a receiver may take its whole timeout): a
    worker that dies mid-batch is noticed within the heartbeat timeout, not the activity's."""
    while True:
        activity.heartbeat(progress)
        await asyncio.sleep(HEARTBEAT_EVERY)


def _where(url: str) -> str:
    """The URL without its query and credentials, for reasons and logs."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}{u.path}"


def _receiver(url: str) -> str:
    """A short stable tag for an endpoint (the heartbeat must not carry URL secrets)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    try:
        delay = timedelta(seconds=int(value))
    except ValueError:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def http_failure(response: httpx.Response, url: str) -> DeliveryFailure | None:
    """None for 2xx; 429, 408 and 5xx transient; any other status permanent."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    reason = f"HTTP {code} {response.reason_phrase} from {_where(url)}"
    if code in (408, 429) or code >= 500:
        return DeliveryFailure(reason, permanent=False,
                               retry_after=_retry_after(response.headers.get("retry-after")))
    return DeliveryFailure(reason, permanent=True)


class WebhookPublisher:
    """Posts register entries to the configured endpoints."""

    def __init__(self, settings: Settings | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 register: Register | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.register = register

    async def _record(self, case_id: str, event_id: str, url: str, status: str,
                      detail: str = "") -> None:
        """The outcome at this receiver, in the register once (when one is attached)."""
        if self.register is not None:
            await asyncio.to_thread(self.register.record_webhook, case_id, event_id,
                                    _where(url), status, detail)

    async def _settled(self, case_id: str, events: list[dict[str, Any]],
                       urls: list[str]) -> list[str]:
        """The (receiver, event) pairs the register already holds as delivered or refused:
        a retry after a worker died mid-batch does not post them again (the heartbeat that
        would have said so may not have reached the server)."""
        if self.register is None:
            return []
        tags = {_where(url): _receiver(url) for url in urls}
        recorded = await asyncio.to_thread(self.register.webhook_outcomes, case_id,
                                           [e["id"] for e in events])
        return [f"{tags[receiver]} {key}" for key, receiver in recorded if receiver in tags]

    async def _post(self, client: httpx.AsyncClient, url: str, event: dict[str, Any]) -> None:
        assert self.settings is not None and self.settings.webhook_secret is not None
        body = body_of(event)
        stamp = int(time.time())
        headers = {
            "content-type": CONTENT_TYPE,
            "webhook-id": event["id"],
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self.settings.webhook_secret.get_secret_value(),
                                      event["id"], stamp, body),
        }
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.UnsupportedProtocol as exc:
            raise DeliveryFailure(f"{_where(url)}: {exc}", permanent=True) from exc
        except httpx.TimeoutException as exc:
            raise DeliveryFailure(f"timeout posting to {_where(url)}: {type(exc).__name__}",
                                  permanent=False) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailure(f"{type(exc).__name__} posting to {_where(url)}: {exc}",
                                  permanent=False) from exc
        failure = http_failure(response, url)
        if failure is not None:
            raise failure

    async def _to_receiver(self, client: httpx.AsyncClient, url: str,
                           events: list[dict[str, Any]], progress: dict[str, list[str]],
                           delivered: list[str]) -> DeliveryFailure | None:
        """Post `events` in order; stop at the first transient failure (kept for the retry,
        with the order). A permanently refused event is noted and the next one is sent."""
        tag = _receiver(url)
        for event in events:
            done = f"{tag} {event['id']}"
            if done in progress["settled"]:
                continue
            try:
                await self._post(client, url, event)
            except DeliveryFailure as failure:
                if not failure.permanent:
                    return failure
                progress["refused"].append(f"{event['id']}: {failure.reason}")
                log.warning("webhook.refused", id=event["id"], reason=failure.reason)
                await self._record(event["data"]["case_id"], event["id"], url, "refused",
                                   failure.reason)
            else:
                delivered.append(done)
                log.info("webhook.delivered", id=event["id"], receiver=_where(url))
                await self._record(event["data"]["case_id"], event["id"], url, "delivered")
            progress["settled"].append(done)
            activity.heartbeat(progress)
        return None

    @activity.defn(name="webhook.publish")
    async def publish(self, batch: RegisterBatch) -> int:
        """Post the batch's events and deadline changes to every endpoint; the number of
        (event, endpoint) deliveries this attempt made."""
        settings = self.settings
        if settings is None or not settings.webhook_urls:
            log.warning("webhook.unconfigured", case_id=batch.case_id,
                        reason="the case publishes webhooks but this worker has no "
                               "ENFORCE_WEBHOOK_URLS")
            return 0
        urls = settings.webhook_urls
        events = [cloud_event(e, settings.webhook_source) for e in batch.entries
                  if e.table in WEBHOOK_TABLES]
        if not events:
            return 0
        details = activity.info().heartbeat_details
        progress: dict[str, list[str]] = {"settled": [], "refused": []}
        if details and isinstance(details[0], dict):
            progress = {"settled": list(details[0].get("settled", [])),
                        "refused": list(details[0].get("refused", []))}
        progress["settled"] += [done for done in await self._settled(batch.case_id, events, urls)
                                if done not in progress["settled"]]
        delivered: list[str] = []
        beat = asyncio.create_task(_heartbeats(progress))
        try:
            async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                                         transport=self.transport,
                                         follow_redirects=False) as client:
                failures = await asyncio.gather(*(
                    self._to_receiver(client, url, events, progress, delivered)
                    for url in urls))
        finally:
            beat.cancel()
        activity.heartbeat(progress)
        transient = [f for f in failures if f is not None]
        if transient:
            delays = [f.retry_after for f in transient if f.retry_after is not None]
            raise activity_error(DeliveryFailure(
                "; ".join(f.reason for f in transient), permanent=False,
                retry_after=max(delays) if delays else None))
        if progress["refused"]:
            raise ApplicationError("refused by a webhook receiver: "
                                   + "; ".join(progress["refused"]),
                                   type=PERMANENT, non_retryable=True)
        return len(delivered)
