"""Notifications on real sinks: emails to an SMTP server (aiosmtpd) and signed CloudEvents
webhooks to HTTP receivers on loopback, from cases run by the real workflows on the
time-skipping server, with the register in SQLite and PostgreSQL.

Checked as a recipient would: who gets which message, in which language, the dates and their
explanation in the text, the signature, and that after an outage or temporary refusals every
message arrives exactly once and none is lost; permanent refusals are recorded, not retried.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from jinja2 import TemplateError
from pydantic import SecretStr
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.mail import MailRenderer, message_id, smtp_failure
from activities.register import Register
from activities.webhooks import WEBHOOK_TABLES, cloud_event, http_failure, sign, verify
from enforcement.case.models import (
    EVENT_ADAPTER,
    CaseInput,
    CaseStatus,
    Controller,
    Event,
    Notification,
    RegisterEntry,
)
from enforcement.families import get_procedure, open_machine
from enforcement.law.timelimits import as_instant, compute_deadline, end_of_day, extend_deadline
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import check_opening
from tests.fixtures_sinks import WEBHOOK_SECRET, SmtpSink, WebhookReceiver, wait_until
from tests.fixtures_temporal import running_worker
from workflows.case import WEBHOOK_TABLES as WORKFLOW_WEBHOOK_TABLES
from workflows.case import ActivityRetry, CaseStart, EnforcementCase
from workflows.driver import EventDriver, EventScript, ScriptedEvent

FR = get_procedure("fr-cnil")
CAL = FR.cal
D = date.fromisoformat
FAST = ActivityRetry(initial_interval_seconds=0.1, maximum_interval_seconds=0.5)
HANDLER = "handler@cnil.example"
CONTROLLER = "dpo@acme.example"
COMPLAINANT = "plaignant@example.org"
MAIL_FROM = "CNIL - procédures <notifications@cnil.example>"


def ev(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


def settings_for(smtp: SmtpSink | None = None,
                 receivers: list[WebhookReceiver] | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {"mail_from": MAIL_FROM, "case_handler_email": HANDLER,
                              "smtp_timeout_seconds": 5, "webhook_timeout_seconds": 5}
    if smtp is not None:
        values.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False)
    if receivers:
        values.update(webhook_urls=[r.url for r in receivers], webhook_secret=WEBHOOK_SECRET)
    values.update(extra)
    return Settings(**values)


def acme_case(case_id: str, email: str = CONTROLLER,
              complainant_email: str = COMPLAINANT) -> CaseInput:
    return CaseInput(
        case_id=case_id, procedure="fr-cnil",
        controller=Controller(name="Acme SAS", country="FR", email=email, language="fr"),
        complainant_ref="C-1", complainant_email=complainant_email, complainant_language="en",
        events=[ev(type="complaint_received", date="2022-02-01", subject="cookies",
                   complainant_ref="C-1")])


# Formal notice due Mon 2 May 2022 (Sun 1 May, Labour Day, rolls); extended on 10 April by a
# month to Thu 2 June, before either reminder of 2 May; compliance on 25 May, before the
# 3-day reminder of 2 June. So: one reminder round only, 14 days before 2 June.
TIMELINE = [
    ev(type="formal_notice_issued", date="2022-03-01", period="2 months",
       measures=["stop depositing cookies without consent"]),
    ev(type="extension_granted", date="2022-04-10", deadline="formal_notice_compliance",
       period="1 month"),
    ev(type="compliance_accepted", date="2022-05-25"),
]


async def start_case(env: WorkflowEnvironment, task_queue: str, case: CaseInput,
                     events: list[Event], horizon: date, *, webhooks: bool = False,
                     ) -> tuple[WorkflowHandle[EnforcementCase, CaseStatus], timedelta]:
    """Start the case (its first event at the server's current time) and the driver of its
    scripted events, like enforcement.simulation.engine, with the webhook flag and quick retries.
    Returns the handle and the virtual time to sleep to reach the horizon."""
    client = env.client
    check_opening(case)
    case = case.model_copy(update={"case_id": f"{uuid.uuid4().hex[:6]}-{case.case_id}"})
    first = min(as_instant(e.date, CAL) for e in [*case.events, *events])
    offset = first - await env.get_current_time()
    handle = await client.start_workflow(
        EnforcementCase.run,
        CaseStart(case=case, procedure=FR, search_attributes=False, webhooks=webhooks,
                  retry=FAST, clock_offset_seconds=offset.total_seconds()),
        id=case.case_id, task_queue=task_queue)
    await client.start_workflow(
        EventDriver.run,
        EventScript(case_id=case.case_id, clock_offset_seconds=offset.total_seconds(),
                    events=[ScriptedEvent(at=as_instant(e.date, CAL), event=e) for e in events]),
        id=f"{case.case_id}:driver", task_queue=task_queue)
    return handle, end_of_day(horizon, CAL) - first


async def run_case(env: WorkflowEnvironment, task_queue: str, case: CaseInput,
                   events: list[Event], horizon: date, *, webhooks: bool = False,
                   ) -> tuple[WorkflowHandle[EnforcementCase, CaseStatus], str]:
    """start_case, then virtual time to the horizon; the handle and the case id."""
    handle, span = await start_case(env, task_queue, case, events, horizon, webhooks=webhooks)
    await env.sleep(span)
    return handle, handle.id


def notification_rows(register: Register, case_id: str) -> dict[str, dict[str, Any]]:
    rows = register.case_rows(case_id)["notifications"]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "the register recorded a notification twice"
    return {r["key"]: r for r in rows}


def published_keys(register: Register, case_id: str) -> list[str]:
    """The register entries that are webhooks: events and deadline changes, in order."""
    rows = register.case_rows(case_id)
    return ([r["key"] for r in rows["events"]] + [r["key"] for r in rows["deadline_changes"]])


def assert_exactly_once(sink: SmtpSink, rows: dict[str, dict[str, Any]]) -> None:
    by_key = sink.by_key()
    sent = {k for k, r in rows.items() if r["status"] == "sent"}
    assert set(by_key) == sent, (set(by_key) ^ sent)
    assert all(len(m) == 1 for m in by_key.values()), {k: len(m) for k, m in by_key.items()
                                                      if len(m) > 1}
    ids = [m.message_id for m in sink.received()]
    assert len(ids) == len(set(ids))


def assert_webhooks_exactly_once(receiver: WebhookReceiver, expected: list[str]) -> None:
    assert sorted(receiver.processed) == sorted(expected)
    assert all(d.valid for d in receiver.deliveries), "a webhook failed its signature check"
    accepted = Counter(d.id for d in receiver.accepted())
    assert accepted == Counter(expected), "a webhook was processed twice or never"


# --- emails: recipients, languages, dates, reminders ------------------------------------------

async def test_emails_reach_each_party_in_their_language(
        ts_env: WorkflowEnvironment, register: Register, smtp_sink: SmtpSink) -> None:
    settings = settings_for(smtp_sink)
    async with running_worker(ts_env.client, register, settings=settings) as tq:
        handle, cid = await run_case(ts_env, tq, acme_case("MAIL"), TIMELINE, D("2022-06-30"))
        result = await handle.result()
    assert (result.status, result.outcome) == ("closed", "complied")
    rows = notification_rows(register, cid)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {r["channel"] for r in rows.values()} == {"email"}
    assert_exactly_once(smtp_sink, rows)
    mails = {m.key: m for m in smtp_sink.received()}

    # Every message goes to its party's address, from the configured sender.
    for key, mail in mails.items():
        party = key.rsplit(":", 1)[1]
        want = {"controller": CONTROLLER, "complainant": COMPLAINANT, "case_handler": HANDLER}
        assert mail.recipients == [want[party]] and mail.message["To"] == want[party]
        assert "notifications@cnil.example" in mail.message["From"]
        assert mail.message_id == message_id(key, "cnil.example")
        assert mail.message["Auto-Submitted"] == "auto-generated"
        assert f"[{cid}]" in mail.subject and cid in mail.body and key in mail.body
        assert parsedate_to_datetime(mail.message["Date"]).tzinfo is not None

    # The dates come from the time-limit core.
    notice = compute_deadline(D("2022-03-01"), "2 months", CAL, FR.rules)
    extended = extend_deadline(notice, CAL, period="1 month")
    assert (notice.due.isoformat(), extended.due.isoformat()) == ("2022-05-02", "2022-06-02")

    # The controller is French: the formal notice in French, with the date and why it rolls.
    formal = mails[f"{cid}:event:2:controller"]
    assert formal.message["Content-Language"] == "fr"
    assert formal.subject == (f"[{cid}] Mise en demeure : mise en conformité au plus tard le "
                              f"lundi 2 mai 2022")
    assert "Madame, Monsieur," in formal.body
    assert "Échéance : le lundi 2 mai 2022 à 24:00 (Europe/Paris, UTC+02:00)" in formal.body
    assert "Durée : 2 mois" in formal.body
    assert "stop depositing cookies without consent" in formal.body
    for line in notice.explanation:  # the explanation, sentence by sentence
        assert f"  - {line}" in formal.body
    assert "Étape de la procédure : mise en demeure" in formal.body
    ext = mails[f"{cid}:event:3:controller"]
    assert ext.subject.endswith("Prolongation accordée : échéance reportée au jeudi 2 juin 2022")
    assert "fixée jusqu'ici au lundi 2 mai 2022" in ext.body

    # The complainant chose English; informed under GDPR 77(2).
    received = mails[f"{cid}:event:1:complainant"]
    assert received.message["Content-Language"] == "en"
    assert received.subject == f"[{cid}] Complaint received"
    assert "Article 77(2) GDPR" in received.body
    progress = compute_deadline(D("2022-02-01"), "3 months", CAL, FR.rules)
    assert progress.due == D("2022-05-02")
    assert "Expires: at 24:00 on Monday 2 May 2022 (Europe/Paris, UTC+02:00)" in received.body
    assert mails[f"{cid}:event:2:complainant"].subject.endswith(
        "Progress of your complaint: formal notice issued")

    # Reminders: only 14 days before the extended deadline (19 May), to the controller and
    # the case handler. None for 2 May (the deadline moved), none 3 days before 2 June (met).
    reminders = sorted(k for k in mails if ":reminder:" in k)
    assert reminders == [f"{cid}:reminder:2:14:2022-06-02:case_handler",
                         f"{cid}:reminder:2:14:2022-06-02:controller"]
    fr = mails[f"{cid}:reminder:2:14:2022-06-02:controller"]
    assert fr.subject.endswith("Rappel : mise en conformité à la mise en demeure, échéance le "
                               "jeudi 2 juin 2022 (dans 14 jours)")
    assert "Échéance : le jeudi 2 juin 2022 à 24:00" in fr.body
    assert "Extension granted on 2022-04-10." in fr.body
    en = mails[f"{cid}:reminder:2:14:2022-06-02:case_handler"]
    assert en.subject.endswith("Reminder: compliance with the formal notice due Thursday "
                               "2 June 2022 (in 14 days)")
    assert not any("2 mai" in m.subject or "2 May" in m.subject
                   for k, m in mails.items() if ":reminder:" in k)
    # The reminder was sent on 19 May at 09:00 Paris time (its Date is the decision's time).
    assert parsedate_to_datetime(en.message["Date"]).astimezone(CAL.tz).date() == D("2022-05-19")

    closing = [k for k in mails if k.startswith(f"{cid}:event:4:")]
    assert sorted(k.rsplit(":", 1)[1] for k in closing) == ["case_handler", "complainant",
                                                           "controller"]
    assert mails[f"{cid}:event:4:controller"].subject.endswith(
        "Mise en conformité acceptée : dossier clos")


# --- outages and temporary refusals: exactly once, none lost -----------------------------------

async def test_after_an_outage_every_message_arrives_exactly_once(
        ts_env: WorkflowEnvironment, register: Register, smtp_sink: SmtpSink,
        webhook_receivers: list[WebhookReceiver]) -> None:
    settings = settings_for(smtp_sink, webhook_receivers)
    sinks: list[SmtpSink | WebhookReceiver] = [smtp_sink, *webhook_receivers]
    for sink in sinks:
        sink.stop()
    async with running_worker(ts_env.client, register, settings=settings) as tq:
        handle, span = await start_case(ts_env, tq, acme_case("OUTAGE"), TIMELINE,
                                        D("2022-06-30"), webhooks=True)
        cid = handle.id
        # The sinks are down: the opening's notifications are recorded, and retried.
        await asyncio.to_thread(wait_until, lambda: {
            r["status"] for r in notification_rows(register, cid).values()} == {"retrying"},
            30, "retried deliveries")
        waiting = notification_rows(register, cid)
        assert all(r["detail"].startswith("attempt ") and "SMTPConnectError" in r["detail"]
                   for r in waiting.values())
        assert len(waiting) == 2  # complaint received: the complainant and the case handler
        # Time goes on while they are down a while longer, then they come back.
        running = asyncio.create_task(ts_env.sleep(span))
        await asyncio.sleep(2)
        assert not smtp_sink.received() and not any(r.deliveries for r in webhook_receivers)
        for sink in sinks:
            sink.start()
        await running
        result = await handle.result()
    assert result.outcome == "complied"
    rows = notification_rows(register, cid)
    assert waiting.keys() < rows.keys()
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert_exactly_once(smtp_sink, rows)
    expected = published_keys(register, cid)
    assert len(expected) >= 8
    for receiver in webhook_receivers:
        assert_webhooks_exactly_once(receiver, expected)
        # A deadline's changes reach each receiver in order.
        types = [receiver.processed[d.id]["type"] for d in receiver.accepted()
                 if receiver.processed[d.id]["data"].get("seq") == 1
                 and receiver.processed[d.id]["data"].get("kind") == "deadline"]
        assert types == ["enforcement.deadline.opened", "enforcement.deadline.extended"]


async def test_temporary_refusals_are_retried_until_delivered(
        ts_env: WorkflowEnvironment, register: Register, smtp_sink: SmtpSink,
        webhook_receivers: list[WebhookReceiver], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    smtp_sink.temporary_failures = 4  # 451 to the next four messages
    webhook_receivers[0].script = deque([503, 429, 500])
    # The second receiver takes the opening batch (2 events) and the first event of the
    # next batch, then times out: the retry does not send that first event again.
    webhook_receivers[1].script = deque([200, 200, 200, 408])
    settings = settings_for(smtp_sink, webhook_receivers)
    async with running_worker(ts_env.client, register, settings=settings) as tq:
        handle, cid = await run_case(ts_env, tq, acme_case("TEMP"), TIMELINE, D("2022-06-30"),
                                     webhooks=True)
        await handle.result()
    assert smtp_sink.attempts == len(smtp_sink.received()) + 4
    rows = notification_rows(register, cid)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert_exactly_once(smtp_sink, rows)
    expected = published_keys(register, cid)
    for receiver in webhook_receivers:
        assert_webhooks_exactly_once(receiver, expected)
    hooks = register.case_rows(cid)["webhook_deliveries"]
    assert {h["status"] for h in hooks} == {"delivered"}
    assert len(hooks) == len({(h["key"], h["receiver"]) for h in hooks}) == 2 * len(expected)
    assert [d.status for d in webhook_receivers[0].deliveries[:3]] == [503, 429, 500]
    assert [d.status for d in webhook_receivers[1].deliveries[:4]] == [200, 200, 200, 408]
    # each retry is one line with its reason, not a warning with a traceback
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]


# --- permanent failures: recorded with the reason, not retried, the case goes on ---------------

async def test_permanent_failures_are_recorded_and_not_retried(
        ts_env: WorkflowEnvironment, register: Register, smtp_sink: SmtpSink,
        webhook_receivers: list[WebhookReceiver]) -> None:
    smtp_sink.refused_domains = {"refused.example"}
    refused_type = "enforcement.case.event.formal_notice_issued"
    webhook_receivers[1].refuse_types = {refused_type: 422}
    settings = settings_for(smtp_sink, webhook_receivers)
    case = acme_case("PERM", email="dpo@refused.example", complainant_email="a,b@example.org")
    async with running_worker(ts_env.client, register, settings=settings) as tq:
        handle, cid = await run_case(ts_env, tq, case, TIMELINE, D("2022-06-30"),
                                     webhooks=True)
        result = await handle.result()
    assert result.outcome == "complied"  # the case went on
    rows = notification_rows(register, cid)
    by_party: dict[str, set[tuple[str, str]]] = {}
    for key, r in rows.items():
        by_party.setdefault(key.rsplit(":", 1)[1], set()).add((r["status"], r["detail"]))
    assert by_party["controller"] == {("failed", "SMTP 550 5.1.1 mailbox unavailable "
                                                 "(dpo@refused.example)")}
    [(status, detail)] = by_party["complainant"]
    assert status == "failed" and detail.startswith("malformed email address 'a,b@example.org'")
    assert {s for s, _ in by_party["case_handler"]} == {"sent"}
    assert_exactly_once(smtp_sink, rows)
    assert {m.recipients[0] for m in smtp_sink.received()} == {HANDLER}
    # Not retried: no message reached DATA for the refused recipient; one try per message.
    assert smtp_sink.attempts == len(smtp_sink.received())
    expected = published_keys(register, cid)
    assert_webhooks_exactly_once(webhook_receivers[0], expected)
    refused = [d for d in webhook_receivers[1].deliveries if d.status == 422]
    assert len(refused) == 1 and refused[0].event["type"] == refused_type
    assert sorted(webhook_receivers[1].processed) == sorted(k for k in expected
                                                            if k != refused[0].id)
    # The register holds each (event, receiver) outcome once, the refusal with its reason.
    hooks = register.case_rows(cid)["webhook_deliveries"]
    assert len(hooks) == 2 * len(expected)
    assert len({(h["key"], h["receiver"]) for h in hooks}) == len(hooks)
    [bad] = [h for h in hooks if h["status"] == "refused"]
    assert bad["key"] == refused[0].id and "422" in bad["detail"]


async def test_no_address_is_skipped_and_no_smtp_only_records(
        ts_env: WorkflowEnvironment, register: Register, smtp_sink: SmtpSink) -> None:
    case = CaseInput(case_id="NOADDR", controller=Controller(name="X", country="FR"),
                     events=[ev(type="complaint_received", date="2022-02-01", subject="s",
                                complainant_ref="C-2")])
    # The dismissal arrives on its day: an opening event two days ahead of the case's
    # clock would be refused as not yet happened.
    async with running_worker(ts_env.client, register,
                              settings=settings_for(smtp_sink)) as tq:
        handle, cid = await run_case(ts_env, tq, case,
                                     [ev(type="no_breach_found", date="2022-02-03")],
                                     D("2022-02-10"))
        await handle.result()
    rows = notification_rows(register, cid)
    assert {k.rsplit(":", 1)[1]: r["status"] for k, r in rows.items()} == {
        "complainant": "skipped", "controller": "skipped", "case_handler": "sent"}
    assert rows[f"{cid}:event:2:controller"]["detail"] == "no email address for the controller"
    assert sorted(m.key for m in smtp_sink.received()) == [f"{cid}:event:1:case_handler",
                                                           f"{cid}:event:2:case_handler"]
    # Without SMTP settings notifications are recorded only, as before.
    async with running_worker(ts_env.client, register) as tq:
        handle, cid = await run_case(ts_env, tq, acme_case("REC"), [], D("2022-02-10"))
        await ts_env.client.get_workflow_handle(cid).terminate("test over")
    assert {r["status"] for r in notification_rows(register, cid).values()} == {"recorded"}
    assert len(smtp_sink.received()) == 2


# --- STARTTLS and authentication ----------------------------------------------------------------

async def test_starttls_and_authentication(
        ts_env: WorkflowEnvironment, register: Register, tls_smtp_sink: SmtpSink,
        tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    good = settings_for(tls_smtp_sink, smtp_starttls=True, smtp_username="engine",
                        smtp_password="s3cret", smtp_cert_bundle=cert)
    case = acme_case("TLS").model_copy(update={"events": [
        *acme_case("TLS").events, ev(type="case_closed", date="2022-02-02", reason="test")]})
    async with running_worker(ts_env.client, register, settings=good) as tq:
        handle, cid = await run_case(ts_env, tq, case, [], D("2022-02-10"))
        await handle.result()
    rows = notification_rows(register, cid)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert_exactly_once(tls_smtp_sink, rows)
    assert tls_smtp_sink.tls_sessions == len(rows) and set(tls_smtp_sink.logins) == {"engine"}
    # A wrong password is an SMTP 535: permanent, recorded.
    bad = good.model_copy(update={"smtp_password": SecretStr("wrong")})
    async with running_worker(ts_env.client, register, settings=bad) as tq:
        handle, cid = await run_case(ts_env, tq, case, [], D("2022-02-10"))
        await handle.result()
    rows = notification_rows(register, cid)
    assert {r["status"] for r in rows.values()} == {"failed"}
    assert all(r["detail"].startswith("SMTP 535") for r in rows.values())


# --- units: signature, events, classification, every template -----------------------------------

def test_signature_matches_the_standard_webhooks_vector() -> None:
    body = b'{"test": 2432232314}'
    sig = sign(WEBHOOK_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": f"v1,bm90IGl0 {sig}"}
    assert verify(WEBHOOK_SECRET, headers, body, now=1614265330 + 60)
    assert not verify(WEBHOOK_SECRET, headers, body + b" ", now=1614265330)
    assert not verify(WEBHOOK_SECRET, headers, body, now=1614265330 + 3600)  # replayed


def test_settings_refuse_unsigned_or_malformed_webhooks() -> None:
    with pytest.raises(ValueError, match="needs webhook_secret"):
        Settings(webhook_urls=["https://example.org/hook"])
    with pytest.raises(ValueError, match="whsec_"):
        Settings(webhook_urls=["https://example.org/hook"], webhook_secret="s3cret")
    s = Settings(webhook_urls="https://a.example/h, https://b.example/h",
                 webhook_secret=WEBHOOK_SECRET)
    assert s.webhook_urls == ["https://a.example/h", "https://b.example/h"]


def test_cloud_event_of_a_register_entry() -> None:
    at = datetime(2022, 3, 1, 11, tzinfo=UTC)
    entry = RegisterEntry(key="C9:deadline:1:pending", table="deadlines", case_id="C9", at=at,
                          data={"seq": 1, "name": "formal_notice_compliance",
                                "status": "pending", "due": "2022-05-02"})
    event = cloud_event(entry, "/enforcement-engine")
    assert event["specversion"] == "1.0" and event["id"] == "C9:deadline:1:pending"
    assert event["type"] == "enforcement.deadline.opened"
    assert event["subject"] == "C9/formal_notice_compliance"
    assert event["time"] == "2022-03-01T11:00:00+00:00"
    assert event["data"]["due"] == "2022-05-02" and event["data"]["case_id"] == "C9"
    moved = entry.model_copy(update={"key": "C9:deadline:1:suspended:4"})
    assert cloud_event(moved, "/e")["type"] == "enforcement.deadline.moved"
    assert WEBHOOK_TABLES == WORKFLOW_WEBHOOK_TABLES == ("events", "deadlines")


def test_failures_are_told_apart() -> None:
    assert smtp_failure(aiosmtplib.SMTPResponseException(550, "no")).permanent
    assert not smtp_failure(aiosmtplib.SMTPResponseException(451, "later")).permanent
    assert not smtp_failure(aiosmtplib.SMTPConnectError("refused")).permanent
    assert not smtp_failure(aiosmtplib.SMTPReadTimeoutError("slow")).permanent
    url = "https://r.example/hook?token=x"
    for code, permanent in ((400, True), (404, True), (410, True), (301, True), (429, False),
                            (408, False), (500, False), (503, False)):
        failure = http_failure(httpx.Response(code), url)
        assert failure is not None and failure.permanent is permanent, code
        assert "token" not in failure.reason
    assert http_failure(httpx.Response(204), url) is None
    retry = http_failure(httpx.Response(429, headers={"retry-after": "7"}), url)
    assert retry is not None and retry.retry_after == timedelta(seconds=7)


def _every_notification() -> list[Notification]:
    """Notifications of every template, from the machine itself (no hand-made data)."""
    scripts: list[list[tuple[str, str, dict[str, Any]]]] = [
        [("2022-01-03", "complaint_received", {"subject": "s", "complainant_ref": "C"}),
         ("2022-01-05", "investigation_opened", {"kind": "online"}),
         ("2022-01-06", "information_requested", {"period": "15 days"}),
         ("2022-01-10", "information_provided", {}),
         ("2022-01-11", "formal_notice_issued", {"period": "2 months", "measures": ["delete"]}),
         ("2022-02-25T10:00:00+01:00", "advance", {}),  # the 14-day reminder
         ("2022-02-26", "compliance_evidence_submitted", {"ref": "letter"}),
         ("2022-02-27", "compliance_rejected", {}),
         ("2022-02-28", "extension_granted", {"deadline": "formal_notice_compliance",
                                              "period": "1 month"}),
         ("2022-03-01", "case_suspended", {"reason": "court"}),
         ("2022-03-10", "case_resumed", {}),
         ("2022-03-11", "compliance_accepted", {})],
        [("2022-01-03", "complaint_received", {"subject": "s", "complainant_ref": "C"}),
         ("2022-05-01T10:00:00+02:00", "advance", {}),  # complainant_progress missed
         ("2022-05-02", "no_breach_found", {})],
        [("2022-01-03", "rapporteur_designated", {}),
         ("2022-01-04", "report_notified", {}),
         ("2022-01-20", "observations_submitted", {}),
         ("2022-01-25", "rapporteur_replied", {}),
         ("2022-02-01", "hearing_scheduled", {"hearing_date": "2022-03-20"}),
         ("2022-03-20", "hearing_held", {}),
         ("2022-03-21", "sanction_decided", {"fine_eur": 20_000_000,
                                             "injunction_period": "2 months",
                                             "penalty_per_day_eur": 100_000}),
         ("2022-03-21", "decision_notified", {}),
         ("2022-03-25", "appeal_lodged", {"court": "Conseil d'État"}),
         ("2022-06-01", "liquidation_opened", {"cutoff": "2022-05-31"}),
         ("2022-06-20", "penalty_liquidated", {}),
         ("2022-06-21", "compliance_established", {}),
         ("2022-06-22", "case_closed", {"reason": "done"})],
        # An appeal lodged in time (notified Mon 21 Mar 2022, 4 months for a controller in the
        # US) but recorded after its timer ran out: the correction notice.
        [("2022-03-01", "rapporteur_designated", {}), ("2022-03-02", "report_notified", {}),
         ("2022-03-03", "hearing_scheduled", {"hearing_date": "2022-03-20"}),
         ("2022-03-20", "hearing_held", {}),
         ("2022-03-21", "sanction_decided", {"fine_eur": 1000}),
         ("2022-03-21", "decision_notified", {}),
         ("2022-09-01", "advance", {}),
         ("2022-04-01", "appeal_lodged", {"court": "Conseil d'État", "_recorded": "2022-09-01"})],
        # A notice due Fri 11 Mar 2022, referred at the end of its grace; a compliance
        # accepted on 10 Mar recorded after that (flagged), then the referral taken back.
        [("2022-01-11", "formal_notice_issued", {"period": "2 months"}),
         ("2022-03-25", "advance", {}),
         ("2022-03-10", "compliance_accepted", {"_recorded": "2022-03-25"}),
         ("2022-03-26", "referral_undone", {"reason": "compliance was accepted in time"})],
        # A notice whose date is corrected, referred, the referral taken back.
        [("2022-01-11", "formal_notice_issued", {"period": "2 months"}),
         ("2022-01-12", "event_corrected", {
             "seq": 1, "reason": "the notice was received a day earlier",
             "corrected": {"type": "formal_notice_issued", "date": "2022-01-10",
                           "period": "2 months"}}),
         ("2022-04-01", "advance", {}),
         ("2022-04-01", "referral_undone", {"reason": "evidence to weigh"})],
    ]
    # The ICO's notices (its own templates): enforcement notice, appeal, notice of intent,
    # representations, penalty notice paid; a notice of intent closed with no penalty.
    ico = [
        [("2026-01-05", "complaint_received", {"subject": "s", "complainant_ref": "C"}),
         ("2026-01-06", "information_notice_given", {"period": "2 months"}),
         ("2026-01-07", "enforcement_notice_given", {"period": "2 months",
                                                     "measures": ["delete"]}),
         ("2026-01-20", "appeal_lodged", {}),
         ("2026-03-02", "notice_of_intent_given", {}),
         ("2026-03-10", "representations_made", {}),
         ("2026-04-01", "penalty_notice_given", {"amount": 1_000_000}),
         ("2026-04-10", "penalty_paid", {})],
        [("2026-01-05", "complaint_received", {"subject": "s", "complainant_ref": "C"}),
         ("2026-03-02", "notice_of_intent_given", {}),
         ("2026-04-01", "no_penalty_notice_given", {})],
    ]
    out: list[Notification] = []
    for n, script in enumerate([*scripts, *ico]):
        proc = FR if n < len(scripts) else get_procedure("uk-ico")
        case = CaseInput(case_id=f"T{n}", controller=Controller(
            name="Acme", country="US", email="a@b.example", language="fr"),
            complainant_ref="C", complainant_email="c@d.example", procedure=proc.name)
        m = open_machine(case, proc, as_instant(D(script[0][0]), proc.cal))
        for when, kind, fields in script:
            at = as_instant(datetime.fromisoformat(when) if "T" in when else D(when),
                            proc.cal)
            if kind == "advance":
                m.advance(at)
            else:
                fields = dict(fields)
                if recorded := fields.pop("_recorded", None):
                    at = as_instant(D(recorded), proc.cal)
                m.apply(ev(type=kind, date=when, **fields), at)
        out += m.take_effects().notifications
    return out


def test_every_template_renders_in_french_and_english() -> None:
    renderer = MailRenderer()
    notifications = _every_notification()
    used = {n.template for n in notifications}
    assert renderer.languages() == ["en", "fr"]
    for lang in ("fr", "en"):
        assert set(renderer.template_names(lang)) == used, lang
    for n in notifications:
        for lang in ("fr", "en"):
            out = renderer.render(n.model_copy(update={"language": lang}))
            assert out.language == lang
            text = out.subject + out.body
            assert "None" not in text and "{{" not in text and "{%" not in text, (n.key, lang)
            assert out.subject.startswith(f"[{n.case_id}] ")
            assert n.key in out.body
            deadline = n.data.get("deadline") or n.data.get("appeal")
            if deadline:
                due = D(deadline["due"][:10])
                day = f"{due.day} " if lang == "en" or due.day != 1 else "1er "
                assert day in out.body and str(due.year) in out.body, (n.key, lang)
                assert deadline["explanation"][-1] in out.body
    with pytest.raises(TemplateError):  # the activity records this as a permanent failure
        renderer.render(notifications[0].model_copy(update={"template": "no_such_event"}))
