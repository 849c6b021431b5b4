"""The workload forecast: every open case carried forward many times from its state now, its
next steps placed by delay distributions (assumptions the office writes down), and per week
the deadlines running out (reaching their end unanswered), hearings, decisions and referrals
to expect, with percentiles, by procedure and stage.

The assumptions file uses the scenario batch syntax, one list of steps per procedure:

```yaml
procedures:
  fr-cnil:
    - {event: compliance_accepted, after: formal_notice_issued, distribution: triangular,
       low: 20, mode: 45, high: 75, probability: 0.4}
    - {event: hearing_scheduled, after: report_notified, distribution: uniform, low: 30,
       high: 60, fields: {hearing_date: {days_after: 42}}}
```

A step is taken in a run (with its `probability`, default 1) when its event has not been
recorded in the case yet and the event it comes `after` has (or was placed earlier in the
same run); its date is that event's date plus the days drawn, or today when that is already
past (a step the assumptions call overdue happens now, not in the past). `fields` are the
event's own (`{days_after: N}`: the step's date plus N days). Everything else (deadlines,
their expiry, the engine's referrals, reminders) is the case machine's, driven by the
in-process engine from the case's own state.

Each case draws from its own generator, seeded by the run's seed and the case id, so the
figures are the same whatever the number of processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from enforcement.case.machine import CaseState
from enforcement.case.models import EVENT_ADAPTER, EVENT_TYPES, Event
from enforcement.case.procedure import ProcedureError
from enforcement.families import get_procedure, machine_class
from enforcement.simulation.batch import _rank
from enforcement.simulation.local import run_from
from enforcement.simulation.scenarios import (
    Draw,
    PathKey,
    ScenarioError,
    _Doc,
    _known_keys,
    _list,
    parse_draw,
    read_file,
)

KINDS = ("deadlines", "hearings", "decisions", "referrals")
QUANTILES = (10, 50, 90)
MAX_WEEKS = 104
MAX_FORECAST_RUNS = 10_000


@dataclass(frozen=True, slots=True)
class Step:
    draw: Draw
    probability: float = 1.0
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assumptions:
    name: str
    steps: dict[str, tuple[Step, ...]]  # by procedure


def load_assumptions(path: Path | str) -> Assumptions:
    return parse_assumptions(*read_file(path))


def parse_assumptions(text: str, name: str = "assumptions") -> Assumptions:
    """Read an assumptions file; every problem names its line and field."""
    doc = _Doc(name, text)
    data = doc.data
    if not isinstance(data, dict):
        raise ScenarioError([f"{name}:1: expected a mapping with `procedures`"])
    _known_keys(doc, data, (), ("procedures",))
    procs = data.get("procedures")
    steps: dict[str, tuple[Step, ...]] = {}
    if not isinstance(procs, dict) or not procs:
        doc.problem(("procedures",), "a mapping of procedure names to lists of steps")
        doc.check()
    assert isinstance(procs, dict)
    for proc_name, items in procs.items():
        ppath: PathKey = ("procedures", proc_name)
        try:
            get_procedure(proc_name)
        except ProcedureError as exc:  # the loader's own message
            doc.problem(ppath, str(exc), doc.key_lines.get(ppath))
            continue
        out = []
        for i, spec in enumerate(_list(doc, items, ppath, "a list of steps")):
            spath = (*ppath, i)
            d = parse_draw(doc, spec, spath, ("probability", "fields"))
            if d is None:
                continue
            for key, value in ((d.event, "event"), (d.after, "after")):
                if key not in EVENT_TYPES:
                    doc.problem((*spath, value), f"unknown event type {key!r}; accepted: "
                                                 f"{', '.join(EVENT_TYPES)}")
            p = spec.get("probability", 1.0)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                doc.problem((*spath, "probability"), "a number from 0 to 1")
                continue
            fields = spec.get("fields", {})
            if not isinstance(fields, dict):
                doc.problem((*spath, "fields"), "a mapping of the event's fields")
                continue
            step = Step(d, float(p), fields)
            try:  # the event must be valid with its fields, on any date
                _event(step, date(2024, 1, 8))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"][1:])
                doc.problem((*spath, "fields"), f"{d.event}: {where}: {first['msg']}")
                continue
            out.append(step)
        steps[proc_name] = tuple(out)
    doc.check()
    return Assumptions(name, steps)


def _event(step: Step, day: date) -> Event:
    data: dict[str, Any] = {}
    for key, value in step.fields.items():
        if isinstance(value, dict) and set(value) == {"days_after"}:
            value = day + timedelta(days=int(value["days_after"]))
        data[key] = value
    return EVENT_ADAPTER.validate_python({**data, "type": step.draw.event, "date": day})


def _latest_dates(state: CaseState) -> dict[str, date]:
    out: dict[str, date] = {}
    for logged in state.log:
        ev = logged.event
        day = ev.date if not isinstance(ev.date, datetime) else ev.date.date()
        out[ev.type] = max(out.get(ev.type, day), day)
    return out


def next_steps(state: CaseState, steps: Iterable[Step], today: date, rng: random.Random
               ) -> list[Event]:
    """One run's placement of the steps not taken yet."""
    known = _latest_dates(state)
    out = []
    for step in steps:
        d = step.draw
        if d.event in known or d.after not in known:
            continue
        days = d.sample(rng)  # drawn whatever the probability: runs stay comparable
        if rng.random() >= step.probability:
            continue
        day = max(known[d.after] + timedelta(days=days), today)
        out.append(_event(step, day))
        known[d.event] = day
    return out


def _seed(seed: int, case_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{case_id}".encode()).digest()[:8], "big")


Key = tuple[str, str, str, int]  # procedure, stage now, kind, week


def _week(day: date, today: date, weeks: int) -> int | None:
    w = (day - today).days // 7
    return w if 0 <= w < weeks else None


def case_runs(state: CaseState, steps: tuple[Step, ...], now: datetime, today: date,
              weeks: int, runs: int, seed: int) -> list[Counter[Key]]:
    """The case carried forward `runs` times: each run's counts by procedure, stage now,
    kind and week."""
    proc = get_procedure(state.procedure)
    cls = machine_class(proc)
    names = {name: kind for kind, found in cls.WORKLOAD.items() for name in found}
    horizon = today + timedelta(days=7 * weeks - 1)
    rng = random.Random(_seed(seed, state.case_id))
    out = []
    for _ in range(runs):
        events = next_steps(state, steps, today, rng)
        st = run_from(state, proc, now, events, horizon).status
        counts: Counter[Key] = Counter()
        for dl in st.deadlines:  # those that reach their end unanswered
            if dl.status not in ("pending", "missed", "lapsed"):
                continue
            w = _week(date.fromisoformat(dl.due[:10]), today, weeks)
            if w is not None:
                counts[(state.procedure, state.stage, "deadlines", w)] += 1
        for t in st.timeline[len(state.timeline):]:  # what happens from now on
            kind = names.get(t.name)
            # an event once, by its own entry (some also mark an outcome of their name)
            if kind is None or t.kind != ("event" if t.name in EVENT_TYPES else "outcome"):
                continue
            w = _week(date.fromisoformat(t.date[:10]), today, weeks)
            if w is not None:
                counts[(state.procedure, state.stage, kind, w)] += 1
        out.append(counts)
    return out


# The worker processes' inputs, set once per process.
_JOB: dict[str, Any] = {}


def _init(job: dict[str, Any]) -> None:
    _JOB.clear()
    _JOB.update(job)


def _chunk(states: list[CaseState]) -> list[Counter[Key]]:
    """A chunk of cases: per run, the sum of their counts."""
    j = _JOB
    totals: list[Counter[Key]] = [Counter() for _ in range(j["runs"])]
    for state in states:
        steps = j["assumptions"].steps.get(state.procedure, ())
        for r, counts in enumerate(case_runs(state, steps, j["now"], j["today"], j["weeks"],
                                             j["runs"], j["seed"])):
            totals[r].update(counts)
    return totals


@dataclass
class Forecast:
    today: date
    weeks: int
    runs: int
    cases: int
    assumptions: str
    # (procedure, stage, kind, week) -> the count in each run
    series: dict[Key, list[int]]

    def rows(self) -> list[dict[str, Any]]:
        """Per week, procedure, stage and kind: the percentiles over the runs (all
        procedures and stages together as `*`)."""
        agg: dict[Key, list[int]] = dict(self.series)
        every: dict[tuple[str, int], list[int]] = {}
        for (_, _, kind, w), values in self.series.items():
            acc = every.setdefault((kind, w), [0] * self.runs)
            for r, v in enumerate(values):
                acc[r] += v
        for (kind, w), values in every.items():
            agg[("*", "*", kind, w)] = values
        out = []
        for (procedure, stage, kind, w), values in sorted(agg.items(), key=lambda kv: (
                kv[0][3], kv[0][0] != "*", kv[0][0], kv[0][1], KINDS.index(kv[0][2]))):
            ordered = sorted(Counter(values).items())
            start = self.today + timedelta(days=7 * w)
            out.append({"week": w, "from": start.isoformat(),
                        "to": (start + timedelta(days=6)).isoformat(),
                        "procedure": procedure, "stage": stage, "kind": kind,
                        "mean": round(sum(values) / self.runs, 2),
                        **{f"p{q}": _rank(ordered, self.runs, q) for q in QUANTILES}})
        return out

    def headline(self) -> dict[str, dict[str, Any]]:
        """Next week, all cases: each kind's median and 10th-90th percentiles."""
        return {r["kind"]: r for r in self.rows()
                if r["week"] == 0 and r["procedure"] == "*"}


def forecast(states: list[CaseState], assumptions: Assumptions, *, now: datetime,
             weeks: int = 12, runs: int = 100, seed: int = 0, jobs: int = 1) -> Forecast:
    """Carry every case forward `runs` times from `now` for `weeks` weeks."""
    tz_today = now.date()
    job = {"assumptions": assumptions, "now": now, "today": tz_today, "weeks": weeks,
           "runs": runs, "seed": seed}
    size = max(1, -(-len(states) // max(1, jobs * 4)))
    chunks = [states[i:i + size] for i in range(0, len(states), size)]
    totals: list[Counter[Key]] = [Counter() for _ in range(runs)]
    if jobs <= 1 or len(chunks) <= 1:
        _init(job)
        results = [_chunk(c) for c in chunks]
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init,
                                 initargs=(job,)) as pool:
            results = list(pool.map(_chunk, chunks))
    for part in results:
        for r, counts in enumerate(part):
            totals[r].update(counts)
    keys: set[Key] = set()
    for counts in totals:
        keys.update(counts)
    # every kind of every procedure and stage present, each week, zeros included
    groups = {(p, s) for p, s, _, _ in keys} | {(st.procedure, st.stage) for st in states}
    series = {(p, s, k, w): [counts[(p, s, k, w)] for counts in totals]
              for p, s in groups for k in KINDS for w in range(weeks)}
    return Forecast(tz_today, weeks, runs, len(states), assumptions.name, series)
