"""Webhooks as a third-party receiver takes them: real deliveries from a case run by the real
workflows (time-skipping server, real HTTP receivers on loopback), each checked with the
reference packages rather than with the engine's own code: the signature with
`standardwebhooks` (the Standard Webhooks reference library) and the envelope with the
`cloudevents` SDK. The expected events are written out by hand from the case's story.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from tests.activities.test_notifications import (
    CAL,
    TIMELINE,
    D,
    acme_case,
    assert_webhooks_exactly_once,
    published_keys,
    run_case,
    settings_for,
)
from tests.fixtures_sinks import WEBHOOK_SECRET, Delivery, WebhookReceiver
from tests.fixtures_temporal import running_worker

SOURCE = "https://cnil.example/enforcement-engine"
# Another valid secret: a receiver configured with it must reject every delivery.
OTHER_SECRET = "whsec_" + base64.b64encode(b"not the engine's secret, 32 b!!!").decode()

# The case of tests/activities/test_notifications.py: complaint on 1 Feb 2022 (the complainant must
# hear of progress within 3 months: Sun 1 May rolls to Mon 2 May), formal notice on 1 Mar
# (2 months: due Mon 2 May, which meets the progress deadline), extended on 10 Apr by a month
# from 2 May (due Thu 2 June), compliance accepted on 25 May (meets it; the case closes).
# Per webhook, in the order a receiver gets them: the key after the case id, the type, the
# subject after the case id, the day (Paris) of the change, and fields of `data`.
EXPECTED: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("event:1", "enforcement.case.event.complaint_received", "complaint_received",
     "2022-02-01", {"kind": "event", "seq": 1, "type": "complaint_received",
                    "date": "2022-02-01",
                    "fields": {"subject": "cookies", "complainant_ref": "C-1"}}),
    ("deadline:0:pending", "enforcement.deadline.opened", "complainant_progress",
     "2022-02-01", {"kind": "deadline", "seq": 0, "name": "complainant_progress",
                    "status": "pending", "trigger_date": "2022-02-01", "period": "3 months",
                    "due": "2022-05-02"}),
    ("event:2", "enforcement.case.event.formal_notice_issued", "formal_notice_issued",
     "2022-03-01", {"kind": "event", "seq": 2, "type": "formal_notice_issued",
                    "date": "2022-03-01",
                    "fields": {"period": "2 months",
                               "measures": ["stop depositing cookies without consent"]}}),
    ("deadline:0:met", "enforcement.deadline.met", "complainant_progress",
     "2022-03-01", {"kind": "deadline", "seq": 0, "name": "complainant_progress",
                    "status": "met", "due": "2022-05-02"}),
    ("deadline:1:pending", "enforcement.deadline.opened", "formal_notice_compliance",
     "2022-03-01", {"kind": "deadline", "seq": 1, "name": "formal_notice_compliance",
                    "status": "pending", "trigger_date": "2022-03-01", "period": "2 months",
                    "due": "2022-05-02"}),
    ("event:3", "enforcement.case.event.extension_granted", "extension_granted",
     "2022-04-10", {"kind": "event", "seq": 3, "type": "extension_granted",
                    "date": "2022-04-10",
                    "fields": {"deadline": "formal_notice_compliance", "period": "1 month"}}),
    ("deadline:1:extended", "enforcement.deadline.extended", "formal_notice_compliance",
     "2022-04-10", {"kind": "deadline", "seq": 1, "name": "formal_notice_compliance",
                    "status": "extended", "due": "2022-05-02"}),
    ("deadline:2:pending", "enforcement.deadline.opened", "formal_notice_compliance",
     "2022-04-10", {"kind": "deadline", "seq": 2, "name": "formal_notice_compliance",
                    "status": "pending", "trigger_date": "2022-05-02", "period": "1 month",
                    "due": "2022-06-02"}),
    ("event:4", "enforcement.case.event.compliance_accepted", "compliance_accepted",
     "2022-05-25", {"kind": "event", "seq": 4, "type": "compliance_accepted",
                    "date": "2022-05-25"}),
    ("deadline:2:met", "enforcement.deadline.met", "formal_notice_compliance",
     "2022-05-25", {"kind": "deadline", "seq": 2, "name": "formal_notice_compliance",
                    "status": "met", "due": "2022-06-02"}),
]


def _one_byte_changed(body: bytes) -> bytes:
    i = len(body) // 2
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]


def _subset(data: Any, want: dict[str, Any]) -> dict[str, Any]:
    """The part of `data` that `want` describes (nested dicts likewise)."""
    assert isinstance(data, dict), data
    return {k: _subset(data.get(k), v) if isinstance(v, dict) else data.get(k)
            for k, v in want.items()}


def check_signature(delivery: Delivery) -> None:
    """The reference library accepts the delivery as sent, and rejects it altered by one
    byte, or checked with another secret."""
    verified = Webhook(WEBHOOK_SECRET).verify(delivery.body, delivery.headers)
    assert verified == delivery.event
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(WEBHOOK_SECRET).verify(_one_byte_changed(delivery.body), delivery.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(OTHER_SECRET).verify(delivery.body, delivery.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(WEBHOOK_SECRET).verify(delivery.body, {
            **delivery.headers, "webhook-id": delivery.id + "x"})


def parse_event(delivery: Delivery) -> BaseCloudEvent:
    """The event as the CloudEvents SDK reads the HTTP request: structured JSON mode."""
    assert delivery.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert not any(k.startswith("ce-") for k in delivery.headers), "binary mode headers"
    return from_http_event(HTTPMessage(headers=delivery.headers, body=delivery.body))


async def test_deliveries_verify_and_parse_with_the_reference_packages(
        ts_env: WorkflowEnvironment, register: Register,
        webhook_receivers: list[WebhookReceiver]) -> None:
    settings = settings_for(receivers=webhook_receivers, webhook_source=SOURCE)
    async with running_worker(ts_env.client, register, settings=settings) as tq:
        handle, cid = await run_case(ts_env, tq, acme_case("INTEROP"), TIMELINE,
                                     D("2022-06-30"), webhooks=True)
        result = await handle.result()
    assert (result.status, result.outcome) == ("closed", "complied")
    expected_ids = [f"{cid}:{key}" for key, *_ in EXPECTED]
    assert sorted(published_keys(register, cid)) == sorted(expected_ids)

    for receiver in webhook_receivers:
        assert_webhooks_exactly_once(receiver, expected_ids)
        deliveries = receiver.deliveries
        # No fault here: each webhook once, in the order of the case's story.
        assert [d.id for d in deliveries] == expected_ids
        assert {d.status for d in deliveries} == {200}
        for delivery, (key, kind, subject, day, data) in zip(deliveries, EXPECTED,
                                                             strict=True):
            check_signature(delivery)
            event = parse_event(delivery)
            assert event.get_specversion() == "1.0"
            assert event.get_id() == delivery.headers["webhook-id"] == f"{cid}:{key}"
            assert event.get_type() == kind
            assert event.get_source() == SOURCE
            assert event.get_subject() == f"{cid}/{subject}"
            assert event.get_datacontenttype() == "application/json"
            when = event.get_time()
            assert when is not None and when.tzinfo is not None
            assert when.astimezone(CAL.tz).date() == date.fromisoformat(day), key
            assert _subset(event.get_data(), {"case_id": cid, **data}) == {
                "case_id": cid, **data}, key
