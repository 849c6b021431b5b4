"""Working-day calendars: public holidays from the maintained `holidays` package, per
country and subdivision, in the jurisdiction's time zone.

Holidays are never hand-written here; this module only caches the package's answer per
year, and what it derives from it per day (working or not, and why; the instant the day ends),
so that deadline computation stays fast.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
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
_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
# Day ends remembered per calendar before the memo starts afresh (a bound on memory).
_ENDS_LIMIT = 20_000


class CalendarError(ValueError):
    """An unknown country, subdivision or time zone; the message lists what exists."""


# Codes users type for a subdivision that the holidays package names otherwise: the Bas-Rhin
# (67) and Haut-Rhin (68) departments keep the local law of Alsace ("6AE"), as the Moselle
# (57) does under its own code.
SUBDIVISION_ALIASES: dict[tuple[str, str], str] = {("FR", "67"): "6AE", ("FR", "68"): "6AE"}


def _day(d: date) -> date:
    """The calendar day of a date or of a date-time as written (its own local day)."""
    return d.date() if isinstance(d, datetime) else d


class Calendar:
    """Which days are working days in one jurisdiction, and why the others are not."""

    __slots__ = ("_cls", "_ends", "_loaded", "_why", "_work", "_years", "country", "key",
                 "label", "subdivision", "timezone", "tz")

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
            extra = {a: s for (c, a), s in SUBDIVISION_ALIASES.items() if c == cc}
            known.update(extra)
            sub = known.get(subdivision.upper())
            if sub is None:
                listed = ", ".join(cls.subdivisions) or "none"
                also = "".join(f"; {a} for {s}" for a, s in extra.items())
                raise CalendarError(
                    f"unknown subdivision {subdivision!r} of {cc}; supported: {listed}{also}")
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
        # Every day of each year looked at: working or not, and why not (None: working).
        self._loaded: set[int] = set()
        self._work: dict[date, bool] = {}
        self._why: dict[date, str | None] = {}
        # Day -> the instant it ends here (00:00 of the next day) and that instant in ISO 8601.
        self._ends: dict[date, tuple[datetime, str]] = {}

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

    def _load(self, year: int) -> None:
        """Work out, once, every day of `year`: working or not, and why not."""
        if year in self._loaded:
            return
        table = self._holidays(year)
        for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1):
            d = date.fromordinal(ordinal)
            self._work[d] = d.weekday() < 5 and d not in table
            self._why[d] = self._why_uncached(d)
        self._loaded.add(year)

    def _why_uncached(self, d: date) -> str | None:
        name = self._holidays(d.year).get(d)
        weekend = _WEEKEND.get(d.weekday())
        if name and weekend:
            return f"{weekend} and a public holiday ({name})"
        if name:
            return f"a public holiday ({name})"
        return weekend

    def holiday(self, d: date) -> str | None:
        """The public holiday's name on `d`, or None."""
        return self._holidays(d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        try:
            return self._work[d]
        except KeyError:  # a year not seen yet, or a datetime: its day
            d = _day(d)
            self._load(d.year)
            return d.weekday() < 5 and d not in self._holidays(d.year)

    def why_not_working(self, d: date) -> str | None:
        """'a Sunday', 'a public holiday (Assumption Day)', or None for a working day."""
        try:
            return self._why[d]
        except KeyError:  # a year not seen yet, or a datetime: its day
            d = _day(d)
            self._load(d.year)
            return self._why_uncached(d)

    def next_working_day(self, d: date) -> date:
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def working_days_after(self, start: date, n: int) -> tuple[date, list[tuple[date, str]]]:
        """The `n`-th working day after `start` (not counted), with the public holidays
        passed over on the way, in order."""
        work = self._work
        d = start
        skipped: list[tuple[date, str]] = []
        while n:
            d += _ONE_DAY
            try:
                w = work[d]
            except KeyError:
                w = self.is_working_day(d)
            if w:
                n -= 1
            else:
                name = self._years[d.year].get(d)  # loaded with the day
                if name:
                    skipped.append((d, name))
        return d, skipped

    def day_end(self, d: date) -> tuple[datetime, str]:
        """24:00 of `d` here, i.e. 00:00 of the next day, and that instant in ISO 8601."""
        try:
            return self._ends[d]
        except KeyError:
            pass
        end = datetime.combine(d + _ONE_DAY, _MIDNIGHT, tzinfo=self.tz)
        if len(self._ends) >= _ENDS_LIMIT:
            self._ends.clear()
        found = self._ends[d] = (end, end.isoformat())
        return found

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
