"""What email and webhook delivery share: how a failure is told apart as permanent (retrying
cannot help: non-retryable, recorded with its reason) or transient (Temporal retries the
activity with backoff until it succeeds)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

PERMANENT = "PermanentDeliveryFailure"
TRANSIENT = "TransientDeliveryFailure"


class DeliveryFailure(Exception):
    """A message that did not get through, and whether trying again can help."""

    def __init__(self, reason: str, permanent: bool,
                 retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        return f"DeliveryFailure({self.reason!r}, {kind})"


def activity_error(failure: DeliveryFailure) -> ApplicationError:
    """The error the activity raises: non-retryable for a permanent failure."""
    if failure.permanent:
        return ApplicationError(failure.reason, type=PERMANENT, non_retryable=True)
    # Benign: the SDK then logs the retry at DEBUG instead of a warning with a traceback
    # of several kilobytes per attempt; the activity logs its own line with the reason.
    return ApplicationError(failure.reason, type=TRANSIENT, next_retry_delay=failure.retry_after,
                            category=ApplicationErrorCategory.BENIGN)
