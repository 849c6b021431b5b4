"""Running a scenario's runs on either engine, at any scale.

The scenario as written and its what-ifs run first, whole. A batch's drawn runs are cut into
chunks run by `jobs` processes (the in-process engine), each run reduced to a `Brief` (its
family's outcome category, key dates and amounts) that the summaries count as it comes: a
`Tally` keeps how often each value occurred, not the values, so 100,000 runs take no more
memory than the few thousand distinct dates they produce, and its percentiles are exactly
those of the full list. Whole runs are kept only when asked (`keep`), or streamed to a JSON
lines file (`sink`), one object per run in run order. The draws are made in this process
from the seed before any chunk starts, so the results are the same whatever `jobs` is.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement.case.ics import calendar_deadlines
from enforcement.case.models import CaseStatus, Event
from enforcement.families import get_procedure, machine_class
from enforcement.simulation.model import Progress, SimCase, SimOutcome
from enforcement.simulation.scenarios import RunPlan, Scenario

if TYPE_CHECKING:
    from activities.register import Register

ENGINES = ("local", "temporal")
DEADLINE_FIELDS = ("name", "trigger_date", "period", "due", "expires_at", "status",
                   "explanation", "history")
SANCTION_FIELDS = ("fine_eur", "penalty_per_day_eur", "penalty_days", "penalty_eur",
                   "liquidated_eur")
PERCENTILES = (5, 25, 50, 75, 95)
# Drawn runs per chunk handed to a process: large enough that handing over costs little,
# small enough that both cores stay busy to the end and the progress bar moves.
CHUNK = 500


# --- what a run came to -----------------------------------------------------------------------

def key_dates(st: CaseStatus) -> dict[str, str]:
    """Each deadline's current due day (one per deadline however often it was extended) and
    the first date of each outcome."""
    out: dict[str, str] = {}
    for dl in calendar_deadlines(st):
        label = dl.name if dl.occurrence == 1 else f"{dl.name} #{dl.occurrence}"
        out[f"{label} due"] = dl.current.due[:10]
    for t in st.timeline:
        if t.kind == "outcome" and t.name not in out:
            out[t.name] = t.date[:10]
    return out


def amounts(st: CaseStatus) -> dict[str, int | None]:
    return {k: getattr(st.sanction, k) for k in SANCTION_FIELDS}


def category(st: CaseStatus) -> str:
    """What the case came to, in its family's terms (complied, referred, sanctioned...)."""
    return machine_class(get_procedure(st.procedure)).category(st)


@dataclass(frozen=True, slots=True)
class Brief:
    """What the summaries need of one run."""

    variant: str
    category: str
    outcome: str  # status/outcome, or status/stage while open
    dates: dict[str, str]
    amounts: dict[str, int]
    rejected: int


def brief(plan: RunPlan, outcome: SimOutcome) -> Brief:
    st = outcome.status
    return Brief(plan.variant, category(st), f"{st.status}/{st.outcome or st.stage}",
                 key_dates(st), {k: v for k, v in amounts(st).items() if v is not None},
                 len(outcome.rejected))


def _rank(ordered: list[tuple[Any, int]], n: int, p: int) -> Any:
    """Nearest-rank percentile of values given with their counts: always one of the values
    (a real date, a real amount)."""
    k = max(0, min(n - 1, -(-p * n // 100) - 1))
    seen = 0
    for value, count in ordered:
        seen += count
        if seen > k:
            return value
    raise ValueError("no values")


def percentiles(counts: Counter[Any]) -> dict[str, Any]:
    ordered = sorted(counts.items())
    n = sum(counts.values())
    out: dict[str, Any] = {"n": n, "min": ordered[0][0]}
    out.update({f"p{p}": _rank(ordered, n, p) for p in PERCENTILES})
    out["max"] = ordered[-1][0]
    return out


@dataclass
class Tally:
    """One variant's runs, counted as they come."""

    categories: tuple[str, ...]
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    shares: Counter[str] = field(default_factory=Counter)
    with_rejected: int = 0
    dates: dict[str, Counter[str]] = field(default_factory=dict)
    money: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, b: Brief) -> None:
        self.runs += 1
        self.outcomes[b.outcome] += 1
        self.shares[b.category] += 1
        self.with_rejected += b.rejected > 0
        for k, v in b.dates.items():
            self.dates.setdefault(k, Counter())[v] += 1
        for k, amount in b.amounts.items():
            self.money.setdefault(k, Counter())[amount] += 1

    def summary(self) -> dict[str, Any]:
        order = [c for c in self.categories if self.shares[c]]
        order += sorted(c for c in self.shares if c not in order)
        return {
            "runs": self.runs,
            "outcomes": dict(sorted(self.outcomes.items())),
            "shares": {c: round(self.shares[c] / self.runs, 4) for c in order},
            "runs_with_rejected_events": self.with_rejected,
            "dates": {k: percentiles(v) for k, v in self.dates.items()},
            "amounts": {k: percentiles(v) for k, v in self.money.items()
                        if any(amount for amount in v)},
        }


# --- running ----------------------------------------------------------------------------------

@dataclass
class RunResult:
    plan: RunPlan
    outcome: SimOutcome

    @property
    def status(self) -> CaseStatus:
        return self.outcome.status

    @property
    def nominal(self) -> bool:
        return self.plan.run is None


@dataclass
class Batch:
    """What running a scenario gives: its nominal runs (as written, then each what-if) whole,
    the drawn runs kept (when asked), and each variant's tally of the drawn runs."""

    nominal: list[RunResult]
    drawn: list[RunResult]
    tallies: dict[str, Tally]
    runs: int
    seed: int | None


# A drawn run to make: the variant's position (None: as written), the run, its draws.
Item = tuple[int | None, int, dict[int, int]]


def sizing(scenario: Scenario, runs: int | None, seed: int | None) -> tuple[int, int | None]:
    """The batch's runs and seed: those asked, else the scenario's (0 and None: no batch)."""
    if scenario.batch is None:
        return 0, None
    return (scenario.batch.runs if runs is None else runs,
            scenario.batch.seed if seed is None else seed)


def drawn_items(scenario: Scenario, runs: int, seed: int) -> Iterator[Item]:
    variants = (None, *range(len(scenario.variants)))
    for i, draws in enumerate(scenario.batch_draws(runs, seed)):
        for v in variants:
            yield v, i, draws


def plan_of(scenario: Scenario, item: Item) -> RunPlan:
    v, run, draws = item
    return scenario.plan(None if v is None else scenario.variants[v], run=run, draws=draws)


def sim_case(scenario: Scenario, plan: RunPlan) -> SimCase:
    return SimCase(scenario.case, plan.events, plan.horizon, plan.recorded)


def _event_json(ev: Event) -> dict[str, Any]:
    return ev.model_dump(mode="json", exclude_none=True)


def run_object(r: RunResult) -> dict[str, Any]:
    """A run as the user sees it in --json and the runs file."""
    st = r.status
    obj: dict[str, Any] = {
        "case_id": st.case_id,
        "procedure": st.procedure,
        "variant": r.plan.variant,
        "run": r.plan.run,
        "status": st.status,
        "stage": st.stage,
        "outcome": st.outcome,
        "category": category(st),
        "horizon": r.plan.horizon.isoformat(),
        "deadlines": [d.model_dump(mode="json", include=set(DEADLINE_FIELDS))
                      for d in st.deadlines],
        "timeline": [t.model_dump(mode="json") for t in st.timeline],
        "sanction": st.sanction.model_dump(mode="json", include=set(SANCTION_FIELDS)),
        "rejected_events": [x.model_dump(mode="json") for x in r.outcome.rejected],
        "after_horizon": [_event_json(e) for e in r.outcome.after_horizon],
    }
    if r.plan.draws:
        obj["draws"] = dict(r.plan.draws)
    return obj


# The worker processes' scenario (set once per process by the pool's initializer).
_SCENARIO: Scenario | None = None


def _init(scenario: Scenario) -> None:
    global _SCENARIO
    _SCENARIO = scenario


def _chunk(items: list[Item], keep: bool, part: str | None
           ) -> tuple[list[Brief], list[RunResult]]:
    """Run a chunk of drawn runs on the in-process engine (each variant's runs sharing the
    start they have in common with it as written): their briefs, the runs themselves when
    kept, each run's object written to `part` when streaming."""
    from enforcement.simulation.local import run_batch

    sc = _SCENARIO
    assert sc is not None
    plans = [plan_of(sc, item) for item in items]
    outcomes: list[SimOutcome | None] = [None] * len(items)
    for v in dict.fromkeys(item[0] for item in items):
        mine = [i for i, item in enumerate(items) if item[0] == v]
        base = sim_case(sc, sc.plan(None if v is None else sc.variants[v]))
        done = run_batch(base, [sim_case(sc, plans[i]) for i in mine])
        for i, outcome in zip(mine, done, strict=True):
            outcomes[i] = outcome
    briefs, kept = [], []
    out = open(part, "w", encoding="utf-8") if part is not None else None  # noqa: SIM115
    try:
        for plan, maybe in zip(plans, outcomes, strict=True):
            assert maybe is not None
            outcome = maybe
            briefs.append(brief(plan, outcome))
            if keep or out is not None:
                r = RunResult(plan, outcome)
                if keep:
                    kept.append(r)
                if out is not None:
                    out.write(json.dumps(run_object(r)) + "\n")
    finally:
        if out is not None:
            out.close()
    return briefs, kept


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def run_local(scenario: Scenario, runs: int, seed: int | None, *, jobs: int = 1,
              keep: bool = True, sink: Path | None = None,
              register: Register | None = None,
              progress: Progress | None = None) -> Batch:
    """The scenario on the in-process engine. With a register, every run writes it, in this
    process (case ids `sim-local-<n>-<case id>`, n the run's position)."""
    from enforcement.simulation.local import run_case

    _init(scenario)
    variants = (None, *scenario.variants)
    nominal = []
    for n, v in enumerate(variants):
        plan = scenario.plan(v)
        cid = f"sim-local-{n}-{scenario.case.case_id}" if register is not None else None
        nominal.append(RunResult(plan, run_case(sim_case(scenario, plan), register, cid)))
    tallies = {v.name if v else "scenario": Tally(_categories(scenario)) for v in variants}
    drawn: list[RunResult] = []
    total = runs * len(variants)
    if sink is not None:
        with sink.open("w", encoding="utf-8") as fh:
            for r in nominal:
                fh.write(json.dumps(run_object(r)) + "\n")
    if scenario.batch is None or runs == 0:
        return Batch(nominal, drawn, tallies, runs if scenario.batch else 0,
                     seed if scenario.batch else None)
    assert seed is not None
    items = list(drawn_items(scenario, runs, seed))
    size = max(1, min(CHUNK, -(-len(items) // max(1, jobs * 4))))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    parts = ([f"{sink}.part{i}" for i in range(len(chunks))] if sink is not None
             else [None] * len(chunks))
    done = 0

    def take(result: tuple[list[Brief], list[RunResult]]) -> None:
        nonlocal done
        briefs, kept = result
        for b in briefs:
            tallies[b.variant].add(b)
        drawn.extend(kept)
        done += len(briefs)
        if progress is not None:
            progress(done / total)

    try:
        if register is not None:  # one writer: the register's rows in run order
            with contextlib.ExitStack() as stack:
                runs_out = (stack.enter_context(sink.open("a", encoding="utf-8"))
                            if sink else None)
                for n, item in enumerate(items, start=len(variants)):
                    plan = plan_of(scenario, item)
                    cid = f"sim-local-{n}-{scenario.case.case_id}"
                    outcome = run_case(sim_case(scenario, plan), register, cid)
                    r = RunResult(plan, outcome)
                    take(([brief(plan, outcome)], [r] if keep else []))
                    if runs_out is not None:
                        runs_out.write(json.dumps(run_object(r)) + "\n")
        elif jobs <= 1 or len(chunks) == 1:
            for c, part in zip(chunks, parts, strict=True):
                take(_chunk(c, keep, part))
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init,
                                     initargs=(scenario,)) as pool:
                for result in pool.map(_chunk, chunks, [keep] * len(chunks), parts):
                    take(result)
        if sink is not None and register is None:
            with sink.open("ab") as whole:
                for part in parts:
                    assert part is not None
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, whole)
    finally:
        for part in parts:
            if part is not None and os.path.exists(part):
                os.remove(part)
    return Batch(nominal, drawn, tallies, runs, seed)


def _categories(scenario: Scenario) -> tuple[str, ...]:
    return machine_class(get_procedure(scenario.procedure)).CATEGORIES


async def run_temporal(scenario: Scenario, runs: int, seed: int | None, *,
                       keep: bool = True, sink: Path | None = None,
                       register_url: str | None = None,
                       progress: Progress | None = None) -> Batch:
    """The scenario through the real workflows on the time-skipping server, every run in one
    stretch of virtual time."""
    from enforcement.simulation.engine import simulator

    variants = (None, *scenario.variants)
    todo = [scenario.plan(v) for v in variants]
    if scenario.batch is not None and runs:
        assert seed is not None
        todo += [plan_of(scenario, item) for item in drawn_items(scenario, runs, seed)]
    cases = [sim_case(scenario, p) for p in todo]
    async with simulator(register_url, cases_hint=len(cases)) as sim:
        outcomes = await sim.run(cases, progress=progress)
    results = [RunResult(p, o) for p, o in zip(todo, outcomes, strict=True)]
    nominal, rest = results[:len(variants)], results[len(variants):]
    tallies = {v.name if v else "scenario": Tally(_categories(scenario)) for v in variants}
    for r in rest:
        b = brief(r.plan, r.outcome)
        tallies[b.variant].add(b)
    if sink is not None:
        with sink.open("w", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps(run_object(r)) + "\n")
    batch = scenario.batch is not None and runs > 0
    return Batch(nominal, rest if keep else [], tallies, runs if batch else 0,
                 seed if batch else None)
