"""Scenario files for `enforce simulate`: a case, its events at their dates, a horizon, and
optionally what-if variants and a batch of random draws for event dates.

```yaml
procedure: fr-cnil
case:
  id: MED-2021-134
  controller: {name: Clearview AI Inc., country: US}
events:
  - type: formal_notice_issued
    id: notice                       # optional: lets variants and draws name the event
    date: 2021-11-26
    period: 2 months
  - type: compliance_accepted
    date: {after: notice, days: 70}  # a date relative to another event
horizon: 2023-05-10
what_if:
  one-month extension:
    add:
      - {type: extension_granted, date: 2022-01-10, deadline: formal_notice_compliance,
         period: 1 month}
    remove: [compliance_accepted]    # an event's id, or its type when only one has it
    move:
      - {event: notice, to: 2021-12-01}        # or by: 10 (days), or to: {after: .., days: ..}
batch:
  runs: 200
  seed: 7
  draws:
    - {event: compliance_accepted, after: notice, distribution: triangular,
       low: 40, mode: 60, high: 120}           # uniform: low, high; normal: mean, sd
```

Errors name the file, the line and the field (`clearview.yaml:14: events[2].date: ...`),
taken from the YAML nodes' marks. Nothing here computes a legal date: relative dates and
draws only place events on the calendar; every deadline comes from the engine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from enforcement.case.models import EVENT_ADAPTER, EVENT_TYPES, CaseInput, Event
from enforcement.case.procedure import ProcedureError
from enforcement.families import get_procedure
from enforcement.law.timelimits import year_problem

PathKey = tuple[str | int, ...]
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "triangular", "normal")
MAX_RUNS = 100_000
# Values a scenario may hold once its aliases are expanded: a real scenario has hundreds; a
# few lines of nested aliases would otherwise expand to billions.
MAX_VALUES = 20_000
MAX_DEPTH = 32  # a scenario nests a few levels; far deeper is not a scenario
_PLACEHOLDER = date(2000, 1, 3)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; each message names the line and the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:3]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__("; ".join(shown) + more)


# --- YAML with line numbers -----------------------------------------------------------------

class _Doc:
    """The plain data of a YAML file and the line (1-based) of every value and key in it."""

    def __init__(self, name: str, text: str, what: str = "a scenario") -> None:
        self.name = name
        self.what = what  # what the file holds, for the size and depth messages
        self.lines: dict[PathKey, int] = {}
        self.key_lines: dict[PathKey, int] = {}
        self.problems: list[tuple[int, str]] = []
        self._loader = yaml.SafeLoader("")
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise ScenarioError([f"{name}:{line}: not valid YAML: "
                                 f"{exc.problem or exc.context}"]) from None
        except yaml.YAMLError as exc:
            raise ScenarioError([f"{name}:1: not valid YAML: {exc}"]) from None
        except RecursionError:
            raise ScenarioError([f"{name}:1: nested more than {MAX_DEPTH} levels deep; "
                                 f"{what} is accepted up to that depth"]) from None
        self.data: Any = None if node is None else self._build(node, ())

    def _build(self, node: yaml.Node, path: PathKey) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if len(path) > MAX_DEPTH:
            raise ScenarioError([f"{self.name}:{node.start_mark.line + 1}: nested more than "
                                 f"{MAX_DEPTH} levels deep; {self.what} is accepted up "
                                 "to that depth"])
        if len(self.lines) > MAX_VALUES:
            raise ScenarioError([f"{self.name}:{node.start_mark.line + 1}: more than "
                                 f"{MAX_VALUES:,} values once its aliases are expanded; "
                                 f"{self.what} is accepted up to that size"])
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._scalar(key_node, path))
                if key in out:
                    self.problem((*path, key), "given twice", key_node.start_mark.line + 1)
                self.key_lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self._build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except (ValueError, yaml.constructor.ConstructorError) as exc:
            # e.g. 2022-13-40: YAML reads it as a date and the calendar refuses it
            what = getattr(exc, "problem", None) or str(exc)
            self.problem(path, f"{node.value!r} is not a valid date or value ({what})",
                         node.start_mark.line + 1)
            return None

    def line(self, path: PathKey) -> int:
        """The line of `path`'s value; for a field that is not there, the line of the
        nearest enclosing field's key (or list item) that is."""
        p = tuple(path)
        if p in self.lines:
            return self.lines[p]
        while p and p not in self.lines:
            p = p[:-1]
        return self.key_lines.get(p) or self.lines.get(p, 1)

    def problem(self, path: PathKey, message: str, line: int | None = None) -> None:
        where = field_name(path)
        self.problems.append((line or self.line(path),
                              f"{where}: {message}" if where else message))

    def check(self) -> None:
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: p[0])
            raise ScenarioError([f"{self.name}:{line}: {msg}" for line, msg in ordered])


def field_name(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --- the scenario -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RelativeDate:
    """`days` calendar days after (before, if negative) the date of the event `after`."""

    after: str
    days: int
    line: int = 0


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    """An event as the file gives it: its fields, and its date (maybe relative)."""

    fields: dict[str, Any]
    when: date | datetime | RelativeDate
    where: str
    line: int
    recorded: date | datetime | RelativeDate | None = None  # when the engine hears of it

    @property
    def type(self) -> str:
        return str(self.fields["type"])

    @property
    def id(self) -> str | None:
        v = self.fields.get("id")
        return None if v is None else str(v)


@dataclass(frozen=True, slots=True)
class Move:
    event: str
    to: date | datetime | RelativeDate | None
    by_days: int | None
    line: int


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    description: str = ""
    add: tuple[ScenarioEvent, ...] = ()
    remove: tuple[tuple[str, int], ...] = ()
    move: tuple[Move, ...] = ()
    horizon: date | None = None


@dataclass(frozen=True, slots=True)
class Draw:
    """A random number of days between the event `after` and the event `event`."""

    event: str
    after: str
    distribution: str
    low: float | None = None
    high: float | None = None
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    line: int = 0

    def sample(self, rng: random.Random) -> int:
        if self.distribution == "uniform":
            assert self.low is not None and self.high is not None
            return rng.randint(math.ceil(self.low), math.floor(self.high))
        if self.distribution == "triangular":
            assert self.low is not None and self.high is not None and self.mode is not None
            return round(rng.triangular(self.low, self.high, self.mode))
        assert self.mean is not None and self.sd is not None
        value = rng.gauss(self.mean, self.sd)
        if self.low is not None:
            value = max(value, self.low)
        if self.high is not None:
            value = min(value, self.high)
        return round(value)

    @property
    def text(self) -> str:
        if self.distribution == "uniform":
            args = f"{self.low:g}..{self.high:g}"
        elif self.distribution == "triangular":
            args = f"{self.low:g}, mode {self.mode:g}, {self.high:g}"
        else:
            args = f"mean {self.mean:g}, sd {self.sd:g}"
        return f"{self.event}: {self.distribution}({args}) days after {self.after}"


@dataclass(frozen=True, slots=True)
class Batch:
    runs: int
    seed: int
    draws: tuple[Draw, ...]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One simulation run: the events with their final dates, and what was drawn."""

    variant: str
    run: int | None
    events: list[Event]
    horizon: date
    draws: dict[str, int] = field(default_factory=dict)
    recorded: dict[int, date | datetime] = field(default_factory=dict)  # by event position

    @property
    def label(self) -> str:
        return self.variant if self.run is None else f"{self.variant} #{self.run}"


BASE = "scenario"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    procedure: str
    case: CaseInput
    events: tuple[ScenarioEvent, ...]
    horizon: date
    variants: tuple[Variant, ...] = ()
    batch: Batch | None = None

    def variant_events(self, variant: Variant | None) -> tuple[list[ScenarioEvent], date]:
        """The scenario's events with a variant's removals, moves and additions applied."""
        events = list(self.events)
        if variant is None:
            return events, self.horizon
        gone = {id(_select(events, sel, line, self.name)) for sel, line in variant.remove}
        events = [e for e in events if id(e) not in gone]
        for mv in variant.move:
            target = _select(events, mv.event, mv.line, self.name)
            if mv.to is not None:
                when: date | datetime | RelativeDate = mv.to
            else:
                assert mv.by_days is not None
                when = _shift(target.when, mv.by_days)
            events = [replace(e, when=when) if e is target else e for e in events]
        events += list(variant.add)
        return events, variant.horizon or self.horizon

    def plan(self, variant: Variant | None = None, run: int | None = None,
             draws: dict[int, int] | None = None) -> RunPlan:
        """The run of a variant (None: the scenario as written), with batch draws applied:
        `draws` maps a draw's position in the batch to its number of days."""
        events, horizon = self.variant_events(variant)
        drawn: dict[str, int] = {}
        if draws and self.batch is not None:
            for i, days in sorted(draws.items()):
                d = self.batch.draws[i]
                try:
                    target = _select(events, d.event, d.line, self.name)
                    _select(events, d.after, d.line, self.name)
                except ScenarioError:
                    continue  # this variant removed the event or its anchor
                events = [replace(e, when=RelativeDate(d.after, days, d.line))
                          if e is target else e for e in events]
                drawn[f"{d.event} after {d.after}"] = days
        resolved, recorded = _resolve(events, self.name)
        return RunPlan(variant.name if variant else BASE, run, resolved, horizon, drawn,
                       recorded)

    def batch_draws(self, runs: int | None = None, seed: int | None = None
                    ) -> Iterator[dict[int, int]]:
        """The draws of each run, reproducible from the seed."""
        if self.batch is None:
            return
        rng = random.Random(self.batch.seed if seed is None else seed)
        for _ in range(self.batch.runs if runs is None else runs):
            yield {i: d.sample(rng) for i, d in enumerate(self.batch.draws)}


def _shift(when: date | datetime | RelativeDate, days: int) -> date | datetime | RelativeDate:
    if isinstance(when, RelativeDate):
        return replace(when, days=when.days + days)
    return when + timedelta(days=days)


def _select(events: list[ScenarioEvent], selector: str, line: int, name: str
            ) -> ScenarioEvent:
    """An event by its id, or by its type when exactly one event has that type."""
    by_id = [e for e in events if e.id == selector]
    if len(by_id) == 1:
        return by_id[0]
    by_type = [e for e in events if e.type == selector]
    if len(by_type) == 1:
        return by_type[0]
    if len(by_type) > 1 or len(by_id) > 1:
        raise ScenarioError([f"{name}:{line}: {selector!r} names {len(by_type) or len(by_id)} "
                             f"events; give the one you mean an `id`"])
    known = sorted({e.id for e in events if e.id} | {e.type for e in events})
    raise ScenarioError([f"{name}:{line}: no event {selector!r}; known ids and types: "
                         f"{', '.join(known) or 'none'}"])


def _resolve(events: list[ScenarioEvent], name: str
             ) -> tuple[list[Event], dict[int, date | datetime]]:
    """Every date made absolute, then each event validated as the engine's model; and the
    recording moments of the events that give one, by position."""
    dates: dict[int, date | datetime] = {}

    def date_of(e: ScenarioEvent, chain: tuple[int, ...]) -> date | datetime:
        if id(e) in dates:
            return dates[id(e)]
        when = e.when
        if isinstance(when, RelativeDate):
            if id(e) in chain:
                raise ScenarioError([f"{name}:{e.line}: {e.where}.date: relative dates go round "
                                     f"in a circle"])
            anchor = _select(events, when.after, when.line or e.line, name)
            when = date_of(anchor, (*chain, id(e))) + timedelta(days=when.days)
        dates[id(e)] = when
        return when

    out = []
    recorded: dict[int, date | datetime] = {}
    for i, e in enumerate(events):
        data = {**e.fields, "date": date_of(e, ())}
        try:
            out.append(EVENT_ADAPTER.validate_python(data))
        except ValidationError as exc:  # checked on load; a moved date cannot break it
            raise ScenarioError([f"{name}:{e.line}: {e.where}: {_messages(exc)[0][1]}"]
                                ) from None
        if e.recorded is None:
            continue
        when = e.recorded
        if isinstance(when, RelativeDate):
            anchor = _select(events, when.after, when.line or e.line, name)
            when = date_of(anchor, ()) + timedelta(days=when.days)
        if _day_of(when) < _day_of(data["date"]):
            raise ScenarioError([f"{name}:{e.line}: {e.where}.recorded: {when.isoformat()} is "
                                 f"before the event's date {data['date'].isoformat()}; an "
                                 f"event is recorded on or after the day it happened"])
        recorded[i] = when
    return out, recorded


def _day_of(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _messages(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    out = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing field"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append((tuple(err["loc"]), msg))
    return out


# --- loading ----------------------------------------------------------------------------------

TOP_KEYS = ("procedure", "case", "events", "horizon", "what_if", "batch")
CASE_KEYS = {"id": "case_id", "controller": "controller", "subject": "subject",
             "complainant_ref": "complainant_ref", "complainant_email": "complainant_email",
             "complainant_language": "complainant_language"}
VARIANT_KEYS = ("description", "add", "remove", "move", "horizon")
DRAW_KEYS = ("event", "after", "distribution", "low", "high", "mode", "mean", "sd")


def read_file(path: Path | str) -> tuple[str, str]:
    """A scenario-syntax file's text and the name its messages give; one error line if it
    cannot be read."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), p.name
    except OSError as exc:
        raise ScenarioError([f"{p}: cannot read: {exc.strerror}"]) from None


def read_yaml(text: str, name: str, what: str) -> Any:
    """The plain data of a small YAML (or JSON) text, bounded as a scenario file is (values
    once aliases are expanded, depth); ScenarioError with the line of what is wrong."""
    return _Doc(name, text, what).data


def load_scenario(path: Path | str) -> Scenario:
    return parse_scenario(*read_file(path))


def parse_scenario(text: str, name: str = "scenario") -> Scenario:
    doc = _Doc(name, text)
    doc.check()
    data = doc.data
    if not isinstance(data, dict):
        raise ScenarioError([f"{name}:1: a scenario is a mapping with the keys "
                             f"{', '.join(TOP_KEYS)}"])
    _known_keys(doc, data, (), TOP_KEYS)
    for key in ("procedure", "case", "events", "horizon"):
        if key not in data:
            doc.problem((key,), "missing field", 1)
    procedure = _procedure(doc, data.get("procedure"))
    case = _case(doc, data.get("case"), procedure)
    events = _events(doc, data.get("events"), ("events",))
    horizon = _date(doc, data.get("horizon"), ("horizon",))
    doc.check()
    variants = _variants(doc, data.get("what_if"))
    batch = _batch(doc, data.get("batch"))
    doc.check()
    assert case is not None and horizon is not None and procedure is not None
    sc = Scenario(name, procedure, case, tuple(events), horizon, tuple(variants), batch)
    # Every selector and relative date must resolve: in the scenario and in each variant.
    problems: list[str] = []
    for v in (None, *variants):
        try:
            sc.plan(v)
        except ScenarioError as exc:
            problems += exc.problems
    if batch is not None:
        every = [e for v in (None, *variants) for e in sc.variant_events(v)[0]]
        for d in batch.draws:
            for sel in (d.event, d.after):
                if not any(sel in (e.id, e.type) for e in every):
                    known = sorted({e.id for e in every if e.id} | {e.type for e in every})
                    problems.append(f"{name}:{d.line}: batch.draws: no event {sel!r}; known "
                                    f"ids and types: {', '.join(known)}")
    if problems:
        raise ScenarioError(list(dict.fromkeys(problems)))
    return sc


def _known_keys(doc: _Doc, data: dict[str, Any], path: PathKey, keys: tuple[str, ...]) -> None:
    for key in data:
        if key not in keys:
            doc.problem((*path, key), f"unknown field; accepted: {', '.join(keys)}")


def _procedure(doc: _Doc, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return get_procedure(str(value)).name
    except ProcedureError as exc:
        doc.problem(("procedure",), str(exc))
        return None


def _case(doc: _Doc, value: Any, procedure: str | None) -> CaseInput | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        doc.problem(("case",), "expected a mapping with id and controller")
        return None
    _known_keys(doc, value, ("case",), tuple(CASE_KEYS))
    fields = {CASE_KEYS[k]: v for k, v in value.items() if k in CASE_KEYS}
    back = {v: k for k, v in CASE_KEYS.items()}
    if "case_id" in fields:
        fields["case_id"] = str(fields["case_id"])
    try:
        return CaseInput.model_validate({**fields, "procedure": procedure or "fr-cnil"})
    except ValidationError as exc:
        for loc, msg in _messages(exc):
            head = back.get(str(loc[0]), str(loc[0])) if loc else ""
            doc.problem(("case", head, *loc[1:]), msg)
        return None


_M = TypeVar("_M", date, datetime)


def _in_years(doc: _Doc, moment: _M, path: PathKey) -> _M | None:
    """`moment`, or None with the problem noted when it is outside the accepted years."""
    if problem := year_problem(moment):
        doc.problem(path, problem)
        return None
    return moment


def _date(doc: _Doc, value: Any, path: PathKey) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _in_years(doc, value.date(), path)
    if isinstance(value, date):
        return _in_years(doc, value, path)
    try:
        return _in_years(doc, date.fromisoformat(str(value)), path)
    except ValueError:
        doc.problem(path, f"{value!r} is not a date; write it as 2022-07-14")
        return None


def _when(doc: _Doc, value: Any, path: PathKey) -> date | datetime | RelativeDate | None:
    if isinstance(value, dict):
        _known_keys(doc, value, path, ("after", "days"))
        after, days = value.get("after"), value.get("days")
        if after is None or not isinstance(days, int) or isinstance(days, bool):
            doc.problem(path, "a relative date is {after: <event id or type>, days: <whole "
                              "number>}")
            return None
        return RelativeDate(str(after), days, doc.line(path))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            doc.problem(path, "a date-time must carry its offset (2022-07-15T18:00:00+02:00); "
                              "or give a bare date")
            return None
        return _in_years(doc, value, path)
    if isinstance(value, date):
        return _in_years(doc, value, path)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None:
            return _when(doc, moment, path)
    doc.problem(path, f"{value!r} is not a date; write it as 2022-07-14, an aware date-time, "
                      f"or {{after: <event>, days: N}}")
    return None


def _events(doc: _Doc, value: Any, path: PathKey) -> list[ScenarioEvent]:
    out = []
    for i, item in enumerate(_list(doc, value, path, "a list of events")):
        ev = _event(doc, item, (*path, i))
        if ev is not None:
            out.append(ev)
    return out


def _event(doc: _Doc, item: Any, path: PathKey) -> ScenarioEvent | None:
    if not isinstance(item, dict):
        doc.problem(path, "an event is a mapping with type, date and its fields")
        return None
    etype = item.get("type")
    if etype is None:
        doc.problem(path, "missing field 'type'")
        return None
    if etype not in EVENT_TYPES:
        doc.problem((*path, "type"), f"unknown event type {etype!r}; accepted: "
                                     f"{', '.join(EVENT_TYPES)}")
        return None
    if "date" not in item:
        doc.problem((*path, "date"), "missing field")
        return None
    when = _when(doc, item["date"], (*path, "date"))
    recorded = (_when(doc, item["recorded"], (*path, "recorded")) if "recorded" in item
                else None)
    fields = {k: v for k, v in item.items() if k not in ("date", "recorded")}
    if "id" in fields and fields["id"] is not None:
        fields["id"] = str(fields["id"])
    try:
        EVENT_ADAPTER.validate_python({**fields, "date": _PLACEHOLDER})
    except ValidationError as exc:
        for loc, msg in _messages(exc):
            doc.problem((*path, *loc[1:]), msg)
        return None
    if when is None:
        return None
    return ScenarioEvent(fields, when, field_name(path), doc.line(path), recorded)


def _variants(doc: _Doc, value: Any) -> list[Variant]:
    if value is None:
        return []
    if not isinstance(value, dict):
        doc.problem(("what_if",), "expected a mapping of named variants")
        return []
    out = []
    for name, spec in value.items():
        path: PathKey = ("what_if", name)
        if not isinstance(spec, dict):
            doc.problem(path, "a variant is a mapping with add, remove, move or horizon")
            continue
        _known_keys(doc, spec, path, VARIANT_KEYS)
        remove = []
        for i, sel in enumerate(_list(doc, spec.get("remove"), (*path, "remove"))):
            remove.append((str(sel), doc.line((*path, "remove", i))))
        moves = []
        for i, mv in enumerate(_list(doc, spec.get("move"), (*path, "move"))):
            mpath = (*path, "move", i)
            if not isinstance(mv, dict) or "event" not in mv or (("to" in mv) == ("by" in mv)):
                doc.problem(mpath, "a move is {event: <id or type>, to: <date>} or "
                                   "{event: <id or type>, by: <days>}")
                continue
            _known_keys(doc, mv, mpath, ("event", "to", "by"))
            to = _when(doc, mv["to"], (*mpath, "to")) if "to" in mv else None
            by = mv.get("by")
            if "by" in mv and (not isinstance(by, int) or isinstance(by, bool)):
                doc.problem((*mpath, "by"), "a whole number of days (negative: earlier)")
                continue
            moves.append(Move(str(mv["event"]), to, by, doc.line(mpath)))
        add = _events(doc, spec.get("add"), (*path, "add"))
        horizon = _date(doc, spec.get("horizon"), (*path, "horizon"))
        out.append(Variant(str(name), str(spec.get("description") or ""), tuple(add),
                           tuple(remove), tuple(moves), horizon))
    return out


def _list(doc: _Doc, value: Any, path: PathKey, what: str = "a list") -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        doc.problem(path, f"expected {what}")
        return []
    return value


def _number(doc: _Doc, spec: dict[str, Any], key: str, path: PathKey) -> float | None:
    v = spec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        doc.problem((*path, key), f"{v!r} is not a number of days")
        return None
    return float(v)


def _batch(doc: _Doc, value: Any) -> Batch | None:
    if value is None:
        return None
    path: PathKey = ("batch",)
    if not isinstance(value, dict):
        doc.problem(path, "expected a mapping with runs, seed and draws")
        return None
    _known_keys(doc, value, path, ("runs", "seed", "draws"))
    runs, seed = value.get("runs", 100), value.get("seed", 0)
    if not isinstance(runs, int) or isinstance(runs, bool) or not 1 <= runs <= MAX_RUNS:
        doc.problem((*path, "runs"), f"a whole number from 1 to {MAX_RUNS:,}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        doc.problem((*path, "seed"), "a whole number")
    draws = []
    for i, spec in enumerate(_list(doc, value.get("draws"), (*path, "draws"))):
        d = parse_draw(doc, spec, (*path, "draws", i))
        if d is not None:
            draws.append(d)
    if not draws:
        doc.problem((*path, "draws"), "a batch needs at least one draw")
    if doc.problems:
        return None
    return Batch(int(runs), int(seed), tuple(draws))


def parse_draw(doc: _Doc, spec: Any, dpath: PathKey, keys: tuple[str, ...] = ()
               ) -> Draw | None:
    """One draw {event, after, distribution, low, mode, high, mean, sd}, its problems noted
    in `doc` with their lines; `keys`: more keys the caller reads itself."""
    if not isinstance(spec, dict):
        doc.problem(dpath, "a draw is {event, after, distribution, ...}")
        return None
    _known_keys(doc, spec, dpath, (*DRAW_KEYS, *keys))
    missing = [k for k in ("event", "after", "distribution") if k not in spec]
    for k in missing:
        doc.problem((*dpath, k), "missing field")
    dist = spec.get("distribution")
    if dist is not None and dist not in DISTRIBUTIONS:
        doc.problem((*dpath, "distribution"), f"unknown distribution {dist!r}; accepted: "
                                              f"{', '.join(DISTRIBUTIONS)}")
        return None
    if missing:
        return None
    n = {k: _number(doc, spec, k, dpath) for k in ("low", "high", "mode", "mean", "sd")}
    need = {"uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
            "normal": ("mean", "sd")}[str(dist)]
    absent = [k for k in need if n[k] is None]
    for k in absent:
        doc.problem((*dpath, k), f"missing field ({dist} needs {', '.join(need)})")
    if absent:
        return None
    low, high = n["low"], n["high"]
    if low is not None and high is not None and low > high:
        doc.problem((*dpath, "high"), f"high ({high:g}) is below low ({low:g})")
        return None
    mode = n["mode"]
    if dist == "triangular" and mode is not None and low is not None and high is not None \
            and not low <= mode <= high:
        doc.problem((*dpath, "mode"), "the mode must lie between low and high")
        return None
    if dist == "uniform" and low is not None and high is not None \
            and math.ceil(low) > math.floor(high):
        doc.problem((*dpath, "high"), "no whole number of days between low and high")
        return None
    if dist == "normal" and (n["sd"] or 0) <= 0:
        doc.problem((*dpath, "sd"), "the standard deviation must be above 0")
        return None
    return Draw(str(spec["event"]), str(spec["after"]), str(dist), low, high, mode,
                n["mean"], n["sd"], doc.line(dpath))
