"""Parsing of legal periods ("2 months", "1 month 15 days", "72 hours", "10 working days").

A period is kept as the units the law states it in, because the counting rules differ by
unit: months and years go by the day's number, days and weeks by counting, hours by the
clock, working days by skipping non-working days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ACCEPTED_FORMS = (
    "'<n> hours', '<n> days', '<n> working days', '<n> weeks', '<n> months', '<n> years', "
    "a combination such as '1 month 15 days' (hours and working days stand alone), "
    "or ISO 8601 such as 'P2M', 'P1M15D', 'PT72H'"
)

_UNITS: dict[str, str] = {
    "hour": "hours", "hours": "hours", "h": "hours", "hr": "hours", "hrs": "hours",
    "day": "days", "days": "days", "d": "days", "calendar day": "days", "calendar days": "days",
    "working day": "working_days", "working days": "working_days",
    "business day": "working_days", "business days": "working_days",
    "clear working day": "working_days", "clear working days": "working_days",
    "week": "weeks", "weeks": "weeks", "w": "weeks",
    "month": "months", "months": "months",
    "year": "years", "years": "years", "y": "years",
}
_TERM = re.compile(
    r"(\d+)\s*(calendar days?|calendar day|working days?|business days?|clear working days?|"
    r"[a-z]+)",
)
_ISO = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(\d+)H)?")
_MAX = {"hours": 24 * 366 * 10, "days": 366 * 10, "working_days": 260 * 10,
        "weeks": 53 * 10, "months": 120, "years": 10}
_SINGULAR = {"hours": "hour", "days": "day", "working_days": "working day", "weeks": "week",
             "months": "month", "years": "year"}
_ORDER = ("years", "months", "weeks", "days", "working_days", "hours")


class PeriodError(ValueError):
    """A period text that cannot be read; the message names the accepted forms."""


@dataclass(frozen=True, slots=True)
class Period:
    """A legal period in the units it was stated in."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    working_days: int = 0
    hours: int = 0

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    @property
    def total_days(self) -> int:
        return self.weeks * 7 + self.days

    @property
    def in_hours(self) -> bool:
        return self.hours > 0

    @property
    def in_working_days(self) -> bool:
        return self.working_days > 0

    @property
    def text(self) -> str:
        """Normalised wording, months before days ("1 month 15 days")."""
        return _text(self)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def _text(p: Period) -> str:
    parts = []
    for unit in _ORDER:
        n = getattr(p, unit)
        if n:
            parts.append(f"{n} {_SINGULAR[unit] if n == 1 else _SINGULAR[unit] + 's'}")
    return " ".join(parts)


def parse_period(text: str | Period) -> Period:
    """Read a period; raise PeriodError naming the accepted forms when it cannot."""
    if isinstance(text, Period):
        return text
    if not isinstance(text, str):
        raise PeriodError(f"a period must be text, not {type(text).__name__}; "
                          f"accepted: {ACCEPTED_FORMS}")
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Period:
    raw = text
    s = text.strip()
    if not s:
        raise PeriodError(f"empty period; accepted: {ACCEPTED_FORMS}")
    if s.startswith("-") or s.upper().startswith("P-"):
        raise PeriodError(f"{raw!r}: periods are positive; accepted: {ACCEPTED_FORMS}")
    counts: dict[str, int] = {}
    iso = _ISO.fullmatch(s.upper())
    if s.upper().startswith("P") and iso is not None and any(iso.groups()):
        y, m, w, d, h = (int(g) if g else 0 for g in iso.groups())
        counts = {k: v for k, v in
                  (("years", y), ("months", m), ("weeks", w), ("days", d), ("hours", h)) if v}
    else:
        s = s.lower().replace(",", " ").replace("+", " ")
        s = re.sub(r"\band\b", " ", s)
        pos = 0
        for m_ in _TERM.finditer(s):
            if s[pos:m_.start()].strip():
                raise PeriodError(f"{raw!r} is not a period: cannot read "
                                  f"{s[pos:m_.start()].strip()!r}; accepted: {ACCEPTED_FORMS}")
            n, word = int(m_.group(1)), " ".join(m_.group(2).split())
            unit = _UNITS.get(word)
            if unit is None:
                raise PeriodError(f"{raw!r} is not a period: unknown unit {word!r}; "
                                  f"accepted: {ACCEPTED_FORMS}")
            if unit in counts:
                raise PeriodError(f"{raw!r} is not a period: {_SINGULAR[unit]}s given twice; "
                                  f"accepted: {ACCEPTED_FORMS}")
            counts[unit] = n
            pos = m_.end()
        if s[pos:].strip() or not counts:
            rest = s[pos:].strip() or s
            raise PeriodError(f"{raw!r} is not a period: cannot read {rest!r}; "
                              f"accepted: {ACCEPTED_FORMS}")
    if not any(counts.values()):
        raise PeriodError(f"{raw!r} is a period of zero length; accepted: {ACCEPTED_FORMS}")
    for unit, n in counts.items():
        if n > _MAX[unit]:
            raise PeriodError(f"{raw!r}: {n} {unit.replace('_', ' ')} is longer than the "
                              f"{_MAX[unit]} accepted")
    if ("hours" in counts or "working_days" in counts) and len(counts) > 1:
        raise PeriodError(f"{raw!r} mixes units that cannot be combined: hours and working "
                          f"days stand alone; accepted: {ACCEPTED_FORMS}")
    return Period(**counts)
