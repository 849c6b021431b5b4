"""Email: Jinja2 templates per event and language, the message built from a Notification
(Message-ID derived from its idempotency key), and an SMTP sender (aiosmtplib: STARTTLS or
implicit TLS, optional authentication) that tells permanent failures from transient ones.

Templates live in `enforcement/templates/mail/<language>/<template>.txt` (one per event the
case machine notifies); each extends its language's `_layout.txt`, which renders the subject
or the body (`part`), and imports `_lang.txt` for the names of deadlines and stages and the
way dates, periods and amounts are written. A language is added by adding a folder; a
procedure whose wording differs (another authority, another court) by adding
`<language>/<procedure>/<template>.txt`, which takes precedence for its cases.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined

import enforcement
from activities.delivery import DeliveryFailure
from enforcement.case.models import Notification
from enforcement.families import get_procedure
from enforcement.ops.settings import Settings

TEMPLATES = Path(enforcement.__file__).resolve().parent / "templates" / "mail"
FALLBACK_LANGUAGE = "en"

# Keys a template may use although a notification's data does not always carry them.
DEFAULTS: dict[str, Any] = {
    "deadline": None, "deadlines": [], "appeal": None, "injunction": None, "reason": "",
    "measures": [], "ref": "", "kind": "", "fine_eur": 0, "amount_eur": 0, "days": 0,
    "days_left": 0, "previous_due": None, "penalty_per_day_eur": 0, "hearing_date": None,
    "explanation": [], "subject_line": "",
}

_UNITS = re.compile(r"(\d+)\s+(working days?|years?|months?|weeks?|days?|hours?)")


# --- template helpers (filters) -------------------------------------------------------------

def as_date(value: str | date) -> date:
    """A calendar date from an ISO date or date-time text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Expiry:
    """A deadline's expiry as people write it: 24:00 on the last day, not 00:00 the next."""

    day: date
    time: str
    offset: str


def expiry(value: str | datetime) -> Expiry:
    at = as_instant(value)
    offset = at.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    if (at.hour, at.minute, at.second) == (0, 0, 0):
        return Expiry(at.date() - timedelta(days=1), "24:00", utc)
    return Expiry(at.date(), at.strftime("%H:%M"), utc)


def period_parts(text: str) -> list[tuple[int, str]]:
    """'2 months 10 days' -> [(2, 'month'), (10, 'day')]; units: year, month, week, day,
    working_day, hour."""
    out = []
    for number, unit in _UNITS.findall(text or ""):
        unit = unit.removesuffix("s").replace(" ", "_")
        out.append((int(number), unit))
    return out


def grouped(amount: int | float, sep: str) -> str:
    return f"{int(amount):,}".replace(",", sep)


def _procedure_context(name: str) -> dict[str, Any]:
    """The currency and time zone amounts and expiry times are written in (static procedure
    parameters; EUR and the bare UTC offset when the procedure is unknown here)."""
    try:
        proc = get_procedure(name)
        return {"currency": proc.currency, "timezone": proc.cal.timezone}
    except Exception:  # an unknown or unreadable procedure must not stop a notification
        return {"currency": "EUR", "timezone": ""}


# --- rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    language: str


class MailRenderer:
    """Renders a Notification with its template in the party's language."""

    def __init__(self, root: Path = TEMPLATES) -> None:
        self.root = root
        self.env = Environment(loader=FileSystemLoader(root), undefined=StrictUndefined,
                               autoescape=False, trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=False)
        self.env.filters.update(as_date=as_date, expiry=expiry, period_parts=period_parts,
                                grouped=grouped)

    def languages(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def template_names(self, language: str) -> list[str]:
        """The event templates of a language (not its `_layout` and `_lang`)."""
        return sorted(p.stem for p in (self.root / language).glob("*.txt")
                      if not p.stem.startswith("_"))

    def render(self, n: Notification) -> Rendered:
        """Subject and body. The template is `<language>/<procedure>/<template>.txt` when a
        procedure has its own wording, else `<language>/<template>.txt`, in the party's
        language, else in English; jinja2.TemplatesNotFound when there is none, other jinja2
        errors for a broken template."""
        procedure = str(n.data.get("procedure", ""))
        language: str = n.language
        names = [f"{lang}/{where}{n.template}.txt" for lang in (language, FALLBACK_LANGUAGE)
                 for where in ((f"{procedure}/", "") if procedure else ("",))]
        template = self.env.select_template(names)
        language = template.name.split("/", 1)[0] if template.name else language
        prefix = f"{n.case_id}:"
        suffix = f":{n.party}"
        step = n.key.removeprefix(prefix).removesuffix(suffix)
        context = {**DEFAULTS, **_procedure_context(procedure),
                   **n.data, "party": n.party, "key": n.key, "step": step, "at": n.at,
                   "language": language, "subject_line": n.subject}
        subject = " ".join(template.render(context, part="subject").split())
        body = template.render(context, part="body").strip() + "\n"
        return Rendered(subject, re.sub(r"\n{3,}", "\n\n", body), language)


# --- addresses and messages -------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def address_problem(address: str) -> str | None:
    """Why `address` cannot be mailed to, or None when it is a plain, deliverable address."""
    try:
        parsed = Address(addr_spec=address)
    except Exception as exc:  # the email package raises several kinds for bad input
        return f"malformed email address {address!r}: {exc}"
    if not parsed.username or not parsed.domain:
        return f"malformed email address {address!r}"
    domain = parsed.domain
    if domain.startswith("[") and domain.endswith("]"):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return f"malformed email address {address!r}: bad domain {domain!r}"
    if not all(_LABEL.match(label) for label in ascii_domain.split(".")):
        return f"malformed email address {address!r}: bad domain {domain!r}"
    return None


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the message with idempotency key `key`: the same for every retry,
    so a receiving system sees one message. Readable part + hash (keys may hold ':')."""
    readable = re.sub(r"[^A-Za-z0-9-]+", ".", key).strip(".") or "n"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"<{readable}.{digest}@{domain}>"


def sender_domain(mail_from: str) -> str:
    addr = parseaddr(mail_from)[1]
    domain = addr.rpartition("@")[2]
    return domain or make_msgid().split("@")[1].rstrip(">")


def compose(n: Notification, to: str, rendered: Rendered, mail_from: str) -> EmailMessage:
    """The email for one notification. Its Date is the notification's time (when the engine
    decided to send it), so a retried message is the same message."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(n.at)
    msg["Message-ID"] = message_id(n.key, sender_domain(mail_from))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Enforcement-Case"] = n.case_id
    msg["X-Enforcement-Key"] = n.key
    msg.set_content(rendered.body, charset="utf-8")
    msg["Content-Language"] = rendered.language  # after set_content, which clears Content-*
    return msg


# --- sending ----------------------------------------------------------------------------------

class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Send; the server's reply. Raises DeliveryFailure (permanent or transient)."""
        ...


def smtp_failure(exc: BaseException) -> DeliveryFailure:
    """SMTP 5xx: permanent. 4xx, connection refused or lost, timeouts: transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"SMTP {r.code} {r.message} ({r.recipient})" for r in exc.recipients)
        return DeliveryFailure(reason or "recipients refused",
                               permanent=bool(codes) and all(500 <= c < 600 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryFailure(f"SMTP {exc.code} {exc.message}", permanent=500 <= exc.code < 600)
    if isinstance(exc, TimeoutError):
        return DeliveryFailure(f"SMTP timeout: {exc}", permanent=False)
    return DeliveryFailure(f"SMTP {type(exc).__name__}: {exc}", permanent=False)


class SmtpSender:
    """One SMTP connection per message (notifications are few and far between)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpSender needs settings.smtp_host")
        self.settings = settings

    async def send(self, message: EmailMessage) -> str:
        s = self.settings
        try:
            replies, text = await aiosmtplib.send(
                message, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_tls, start_tls=False if s.smtp_tls else s.smtp_starttls,
                cert_bundle=str(s.smtp_cert_bundle) if s.smtp_cert_bundle else None,
                timeout=s.smtp_timeout_seconds)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise smtp_failure(exc) from exc
        refused = {rcpt: r for rcpt, r in replies.items() if not 200 <= r.code < 300}
        if refused:  # not reached with one recipient (aiosmtplib raises), kept for safety
            raise DeliveryFailure("; ".join(f"SMTP {r.code} {r.message} ({rcpt})"
                                            for rcpt, r in refused.items()),
                                  permanent=all(500 <= r.code < 600 for r in refused.values()))
        return " ".join(text.split())
