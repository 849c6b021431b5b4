"""Notification delivery. Every message is recorded in the register once per idempotency
key; delivery channels (email, webhooks) plug in here."""

from __future__ import annotations

from temporalio import activity

from activities.register import Register
from enforcement.models import Notification


class Notifier:
    """Delivers notifications; until a channel is configured it records them only."""

    def __init__(self, register: Register) -> None:
        self.register = register

    @activity.defn(name="notify.deliver")
    def deliver(self, n: Notification) -> bool:
        return self.register.notify(n)
