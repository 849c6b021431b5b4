"""Working-day calendars: public holidays from the maintained `holidays` package, per
country and subdivision, in the jurisdiction's time zone.

Holidays are never hand-written here; this module only caches the package's answer per
year so that deadline computation stays fast.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# The EU/EEA countries and the United Kingdom, with the time zone their authority works in.
# Subdivisions that sit in another time zone (overseas departments) are listed apart.
COUNTRY_TIMEZONES: dict[str, str] = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn", "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GB": "Europe/London",
    "GR": "Europe/Athens", "HR": "Europe/Zagreb", "HU": "Europe/Budapest",
    "IE": "Europe/Dublin", "IS": "Atlantic/Reykjavik", "IT": "Europe/Rome",
    "LI": "Europe/Vaduz", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
    "NO": "Europe/Oslo", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest", "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana",
    "SK": "Europe/Bratislava",
}
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
SUBDIVISION_TIMEZONES: dict[tuple[str, str], str] = {
    ("FR", "971"): "America/Guadeloupe", ("FR", "972"): "America/Martinique",
    ("FR", "973"): "America/Cayenne", ("FR", "974"): "Indian/Reunion",
    ("FR", "976"): "Indian/Mayotte", ("ES", "CN"): "Atlantic/Canary",
    ("PT", "20"): "Atlantic/Azores", ("PT", "30"): "Atlantic/Madeira",
}
_WEEKEND = {5: "a Saturday", 6: "a Sunday"}
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarError(ValueError):
    """An unknown country, subdivision or time zone; the message lists what exists."""


class Calendar:
    """Which days are working days in one jurisdiction, and why the others are not."""

    __slots__ = ("_cls", "_years", "country", "key", "label", "subdivision", "timezone", "tz")

    def __init__(self, country: str, subdivision: str | None = None,
                 timezone: str | None = None) -> None:
        cc = COUNTRY_ALIASES.get(country.upper(), country.upper())
        if cc not in COUNTRY_TIMEZONES:
            raise CalendarError(
                f"unknown country {country!r}; supported: {', '.join(sorted(COUNTRY_TIMEZONES))}")
        cls = holidays.country_holidays(cc).__class__
        sub: str | None = None
        if subdivision:
            aliases: dict[str, str] = getattr(cls, "subdivisions_aliases", {}) or {}
            known = {s.upper(): s for s in cls.subdivisions}
            known.update({a.upper(): s for a, s in aliases.items()})
            sub = known.get(subdivision.upper())
            if sub is None:
                listed = ", ".join(cls.subdivisions) or "none"
                raise CalendarError(
                    f"unknown subdivision {subdivision!r} of {cc}; supported: {listed}")
        tzname = timezone or SUBDIVISION_TIMEZONES.get((cc, sub or "")) or COUNTRY_TIMEZONES[cc]
        try:
            self.tz = ZoneInfo(tzname)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError on odd keys
            raise CalendarError(f"unknown time zone {tzname!r}; use an IANA name such as "
                                f"'Europe/Paris'") from exc
        self._cls = cls
        self.country = cc
        self.subdivision = sub
        self.timezone = tzname
        self.key = f"{cc}-{sub}" if sub else cc
        self.label = f"{cc} ({sub})" if sub else cc
        self._years: dict[int, dict[date, str]] = {}

    def __repr__(self) -> str:
        return f"Calendar({self.key!r}, {self.timezone!r})"

    def _holidays(self, year: int) -> dict[date, str]:
        table = self._years.get(year)
        if table is None:
            lang = "en_US" if "en_US" in self._cls.supported_languages else None
            src = holidays.country_holidays(self.country, subdiv=self.subdivision,
                                            years=year, language=lang)
            table = {d: n for d, n in src.items() if n != "Sunday"}
            self._years[year] = table
        return table

    def holiday(self, d: date) -> str | None:
        """The public holiday's name on `d`, or None."""
        return self._holidays(d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self._holidays(d.year)

    def why_not_working(self, d: date) -> str | None:
        """'a Sunday', 'a public holiday (Assumption Day)', or None for a working day."""
        name = self._holidays(d.year).get(d)
        weekend = _WEEKEND.get(d.weekday())
        if name and weekend:
            return f"{weekend} and a public holiday ({name})"
        if name:
            return f"a public holiday ({name})"
        return weekend

    def next_working_day(self, d: date) -> date:
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        """Public holidays in [start, end], in order."""
        out: list[tuple[date, str]] = []
        for year in range(start.year, end.year + 1):
            out.extend((d, n) for d, n in self._holidays(year).items() if start <= d <= end)
        return sorted(out)


def day_name(d: date) -> str:
    return _DAY_NAMES[d.weekday()]


@lru_cache(maxsize=256)
def get_calendar(country: str, subdivision: str | None = None,
                 timezone: str | None = None) -> Calendar:
    """A shared, cached calendar: building one from `holidays` is the slow part."""
    return Calendar(country, subdivision or None, timezone or None)


def supported_countries() -> dict[str, tuple[str, ...]]:
    """Country code -> subdivisions known to the `holidays` package."""
    return {cc: tuple(holidays.country_holidays(cc).__class__.subdivisions)
            for cc in sorted(COUNTRY_TIMEZONES)}
