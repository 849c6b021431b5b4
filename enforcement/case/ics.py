"""A case's deadlines as an iCalendar file (RFC 5545), for the CLI and the HTTP API.

One all-day event per deadline. A deadline keeps its UID for its whole life: when an
extension replaces its record (the old one marked `extended`) or a suspension moves it, the
event keeps the UID and its SEQUENCE goes up, so a calendar that imported the file earlier
moves the event instead of adding a second one. A deadline that no longer applies
(`cancelled`) stays in the file with STATUS:CANCELLED so that subscribers drop it. Every
pending deadline carries one VALARM per reminder offset of its procedure, at the hour the
engine sends its own reminders. The description holds the explanation computed by the
time-limit core and the legal basis; no date is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Alarm, Calendar, Event

from enforcement.case.machine import REMINDER_TIME
from enforcement.case.models import CaseStatus, DeadlineRecord
from enforcement.case.procedure import Procedure, ProcedureError, all_procedures

PRODID = "-//enforcement-engine//case deadlines//EN"
UID_DOMAIN = "enforcement-engine"
SUSPENSION = "The case was suspended for "
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CalendarDeadline:
    """One deadline as the calendar shows it: its current record and how it got there."""

    uid: str
    name: str
    occurrence: int
    records: tuple[DeadlineRecord, ...]  # the first record, then each replacement

    @property
    def current(self) -> DeadlineRecord:
        return self.records[-1]

    @property
    def due_day(self) -> date:
        """The calendar day of the due date (a due date-time is already in local time)."""
        return date.fromisoformat(self.current.due[:10])

    @property
    def moves(self) -> int:
        """How often the date moved: each extension, each suspension added to it."""
        suspensions = sum(1 for r in self.records for s in r.explanation
                          if s.startswith(SUSPENSION))
        return len(self.records) - 1 + suspensions

    @property
    def sequence(self) -> int:
        """Up with each move, a cancellation and each status a late record corrected, so a
        calendar that imports the newer file shows the change."""
        return (self.moves + (1 if self.current.status == "cancelled" else 0)
                + len(self.current.history))


def calendar_deadlines(status: CaseStatus) -> list[CalendarDeadline]:
    """The case's deadlines, one per deadline however often it was extended."""
    chains: dict[str, list[list[DeadlineRecord]]] = {}
    for rec in sorted(status.deadlines, key=lambda r: r.seq):
        named = chains.setdefault(rec.name, [])
        open_chain = next((c for c in named if c[-1].status == "extended"), None)
        if open_chain is not None:
            open_chain.append(rec)  # the record that replaced an extended one
        else:
            named.append([rec])
    out = []
    for name, named in chains.items():
        for i, chain in enumerate(named, start=1):
            out.append(CalendarDeadline(
                uid=f"{name}-{i}.{status.case_id}@{UID_DOMAIN}", name=name, occurrence=i,
                records=tuple(chain)))
    out.sort(key=lambda d: d.records[0].seq)
    return out


def _procedure(name: str) -> Procedure | None:
    """The procedure file's parameters (its reminders), if the file is there."""
    try:
        return all_procedures().get(name)
    except ProcedureError:
        return None


def _label(name: str) -> str:
    return name.replace("_", " ")


def _description(status: CaseStatus, dl: CalendarDeadline, proc: Procedure | None) -> str:
    rec = dl.current
    c = status.controller
    lines = [
        f"Case {status.case_id}: {c.name} ({c.country}), procedure {status.procedure}.",
        f"Deadline {rec.name}: {rec.period} from {rec.trigger_date}; due {rec.due}, "
        f"expires at {rec.expires_at.isoformat()}.",
        f"Status: {rec.status}.",
    ]
    previous = [r.due for r in dl.records[:-1]]
    if previous:
        lines.append(f"Previously due: {', '.join(previous)}.")
    lines += ["", "Why this date:", *(f"- {s}" for s in rec.explanation)]
    if proc is not None:
        basis = f"Legal basis: {proc.title} ({proc.authority})"
        if proc.sources:
            basis += ": " + "; ".join(proc.sources)
        lines += ["", basis + ".", f"Counting rules: {proc.rule_set.title}."]
    return "\n".join(lines)


def case_calendar(status: CaseStatus, now: datetime | None = None) -> bytes:
    """The case's deadlines as an .ics file."""
    proc = _procedure(status.procedure)
    offsets = list(proc.reminders.offsets_days) if proc is not None else []
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Case {status.case_id} deadlines")
    reminder_at = timedelta(hours=REMINDER_TIME.hour, minutes=REMINDER_TIME.minute)
    for dl in calendar_deadlines(status):
        rec = dl.current
        ev = Event()
        ev.add("uid", dl.uid)
        ev.add("dtstamp", stamp)
        ev.add("sequence", dl.sequence)
        ev.add("dtstart", dl.due_day)
        ev.add("dtend", dl.due_day + _ONE_DAY)
        marker = "" if rec.status == "pending" else f" [{rec.status}]"
        ev.add("summary", f"{status.case_id}: {_label(rec.name)} due{marker}")
        ev.add("description", _description(status, dl, proc))
        ev.add("status", "CANCELLED" if rec.status == "cancelled" else "CONFIRMED")
        ev.add("transp", "TRANSPARENT")
        ev.add("categories", [rec.name])
        ev.add("x-enforcement-deadline-status", rec.status)
        if rec.status == "pending":
            for days in offsets:
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("description",
                          f"{status.case_id}: {_label(rec.name)} due {rec.due} "
                          f"({days} days)")
                # The engine's reminders go out at REMINDER_TIME, `days` days before the due
                # day; relative to the all-day event's start that is -days + REMINDER_TIME.
                alarm.add("trigger", -timedelta(days=days) + reminder_at)
                ev.add_component(alarm)
        cal.add_component(ev)
    data: bytes = cal.to_ical()
    return data
