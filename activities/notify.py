"""Notification delivery: `notify.deliver`, one activity per notification.

Every notification is first recorded in the register, once per idempotency key. With SMTP
configured it is then sent by email to the party's address (the case handler's is
`case_handler_email`), in the party's language, with a Message-ID derived from the key, and
the register row is marked with the outcome:

- `sent` (channel "email", detail = the server's reply): once; a retried or repeated activity
  finds the row sent and sends nothing again;
- `failed` (detail = the reason) for a permanent failure: a malformed address, an SMTP 5xx
  reply, a broken template. The activity then fails non-retryable;
- `skipped` when the party has no address;
- `retrying` (detail = the last reason) while a transient failure (SMTP 4xx, connection
  refused or lost, timeout) is retried by Temporal, with backoff, until it succeeds.

Without SMTP the notification is only recorded (status "recorded"), as before.

Exactly once: the register row says whether the message went out. The one window left is a
crash between the SMTP server's acceptance and the register's update; the retry then sends
the same message again, with the same Message-ID, which receiving systems deduplicate on.
"""

from __future__ import annotations

import asyncio

import structlog
from jinja2 import TemplateError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import DeliveryFailure, activity_error
from activities.mail import MailRenderer, MailSender, SmtpSender, address_problem, compose
from activities.register import FINAL_DELIVERY, DeliveryStatus, Register
from enforcement.case.models import Notification
from enforcement.ops.settings import Settings

log = structlog.get_logger(__name__)

EMAIL = "email"


class Notifier:
    """Records every notification and, when SMTP is configured, emails it."""

    def __init__(self, register: Register, settings: Settings | None = None,
                 sender: MailSender | None = None,
                 renderer: MailRenderer | None = None) -> None:
        if sender is not None and settings is None:
            raise ValueError("a Notifier with a mail sender needs the settings (mail_from, "
                             "case_handler_email)")
        self.register = register
        self.settings = settings or Settings()
        if sender is None and settings is not None and settings.smtp_configured:
            sender = SmtpSender(settings)
        self.sender = sender
        self.renderer = renderer or MailRenderer()

    @activity.defn(name="notify.deliver")
    async def deliver(self, n: Notification) -> bool:
        """Record `n` and send it; True when this call recorded it (no SMTP) or sent it."""
        recorded = await asyncio.to_thread(self.register.notify, n)
        if self.sender is None:
            return recorded
        return await self._email(n, self.sender)

    def _address(self, n: Notification) -> str | None:
        if n.party == "case_handler":
            return n.to or self.settings.case_handler_email
        return n.to

    async def _mark(self, n: Notification, status: DeliveryStatus, detail: str) -> None:
        await asyncio.to_thread(self.register.mark_delivery, n.key, status, EMAIL, detail)

    async def _fail(self, n: Notification, failure: DeliveryFailure) -> ApplicationError:
        attempt = activity.info().attempt
        if failure.permanent:
            await self._mark(n, "failed", failure.reason)
            log.warning("notify.failed", case_id=n.case_id, key=n.key, reason=failure.reason,
                        attempt=attempt)
        else:
            await self._mark(n, "retrying", f"attempt {attempt}: {failure.reason}")
            log.info("notify.retrying", case_id=n.case_id, key=n.key, reason=failure.reason,
                     attempt=attempt)
        return activity_error(failure)

    async def _email(self, n: Notification, sender: MailSender) -> bool:
        state = await asyncio.to_thread(self.register.delivery, n.key)
        if state is not None and state[0] in FINAL_DELIVERY:
            log.info("notify.already", case_id=n.case_id, key=n.key, status=state[0])
            return False
        to = self._address(n)
        if not to:
            reason = f"no email address for the {n.party.replace('_', ' ')}"
            await self._mark(n, "skipped", reason)
            log.info("notify.skipped", case_id=n.case_id, key=n.key, reason=reason)
            return False
        problem = address_problem(to)
        if problem is not None:
            raise await self._fail(n, DeliveryFailure(problem, permanent=True))
        try:
            rendered = self.renderer.render(n)
            message = compose(n, to, rendered, self.settings.mail_from)
        except (TemplateError, ValueError) as exc:
            raise await self._fail(n, DeliveryFailure(
                f"cannot write the {n.template!r} message ({n.language}): "
                f"{type(exc).__name__}: {exc}", permanent=True)) from exc
        try:
            reply = await sender.send(message)
        except DeliveryFailure as failure:
            raise await self._fail(n, failure) from failure
        await self._mark(n, "sent", f"to {to}: {reply}")
        log.info("notify.sent", case_id=n.case_id, key=n.key, to=to, party=n.party,
                 template=n.template, language=rendered.language, reply=reply)
        return True
