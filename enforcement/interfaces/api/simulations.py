"""The simulation routes: a shipped scenario or an uploaded one run on the in-process engine,
for the console and for programs (`enforce simulate --json` over HTTP).

Bounded: the file's size, its values once aliases are expanded (the loader's limit), the
batch's runs. Each simulation runs in a worker thread, never in the API's event loop, and at
most `CONCURRENT` at a time; the answer is the document `enforce simulate --json
--runs-file` prints: every run as written and each what-if whole, the batch's summary
(outcome shares, percentiles), never the drawn runs one by one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from enforcement.interfaces.api.access import Anyone, Engine, Regulator
from enforcement.interfaces.api.errors import ApiError, responses
from enforcement.ops.temporal import InvalidInput
from enforcement.simulation.scenarios import Scenario, ScenarioError, parse_scenario

if TYPE_CHECKING:
    from enforcement.simulation.report import Report

router = APIRouter(tags=["simulation"])

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
MAX_SCENARIO_BYTES = 65_536
MAX_API_RUNS = 5_000
CONCURRENT = 2
_slots = threading.BoundedSemaphore(CONCURRENT)


def shipped() -> dict[str, Path]:
    """The scenarios that come with the engine, by name (the file's stem)."""
    return {p.stem: p for p in sorted(SCENARIOS.glob("*.yaml"))}


class ScenarioInfo(BaseModel):
    name: str
    procedure: str
    case_id: str
    horizon: str
    what_ifs: list[str]
    batch_runs: int


class SimulationRequest(BaseModel):
    """Exactly one of `shipped` (a name from GET /simulations/scenarios) or `scenario` (the
    YAML text of a scenario file, as `enforce simulate` reads it)."""

    shipped: str | None = Field(default=None, max_length=100, examples=["clearview"])
    scenario: str | None = Field(default=None, max_length=MAX_SCENARIO_BYTES,
                                 description="a scenario file's YAML text")
    runs: int | None = Field(default=None, ge=0, le=MAX_API_RUNS, description="batch runs "
                             "(default: the scenario's batch.runs, at most "
                             f"{MAX_API_RUNS:,} here; enforce simulate takes more)")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)

    @model_validator(mode="after")
    def _one_source(self) -> SimulationRequest:
        if (self.shipped is None) == (self.scenario is None):
            raise ValueError("give exactly one of shipped (a shipped scenario's name) or "
                             "scenario (a scenario file's YAML text)")
        return self


def load_request(req: SimulationRequest, name: str = "scenario.yaml") -> Scenario:
    """The request's scenario, checked: InvalidInput with the loader's message (and line)."""
    if req.shipped is not None:
        path = shipped().get(req.shipped)
        if path is None:
            raise InvalidInput("body.shipped", f"no shipped scenario {req.shipped!r}; "
                               f"accepted: {', '.join(shipped())}")
        text, name = path.read_text(encoding="utf-8"), path.name
    else:
        assert req.scenario is not None
        if len(req.scenario.encode()) > MAX_SCENARIO_BYTES:
            raise InvalidInput("body.scenario", f"more than {MAX_SCENARIO_BYTES:,} bytes")
        text = req.scenario
    try:
        sc = parse_scenario(text, name)
    except ScenarioError as exc:
        raise InvalidInput("body.scenario" if req.scenario is not None else "body.shipped",
                           str(exc)) from None
    runs = req.runs if req.runs is not None else (sc.batch.runs if sc.batch else 0)
    if sc.batch is not None and runs > MAX_API_RUNS:
        raise InvalidInput("body.runs", f"the scenario's batch asks {runs:,} runs; at most "
                           f"{MAX_API_RUNS:,} here (give runs, or use enforce simulate)")
    if sc.batch is None and (req.runs or req.seed is not None):
        raise InvalidInput("body.runs", "runs and seed need a `batch` section with draws in "
                           "the scenario")
    return sc


def run_report(sc: Scenario, runs: int | None, seed: int | None) -> Report:
    """Run a scenario on the in-process engine in this (worker) thread, at most
    `CONCURRENT` at a time (ApiError 503 beyond)."""
    from enforcement.simulation.report import run_scenario

    if not _slots.acquire(timeout=0):
        raise ApiError(503, f"{CONCURRENT} simulations are running; try again shortly")
    try:
        return run_scenario(sc, runs, seed, engine="local", jobs=1, keep=False)
    finally:
        _slots.release()


def _simulate(sc: Scenario, runs: int | None, seed: int | None) -> dict[str, Any]:
    from enforcement.simulation.report import document

    report = run_report(sc, runs, seed)
    doc = document(report)
    if report.single:
        return {"runs": [doc], "summary": report.summary}
    return doc


@router.get("/simulations/scenarios", response_model=list[ScenarioInfo],
            responses=responses(401, 403))
async def scenarios(grant: Anyone) -> list[ScenarioInfo]:
    """The shipped scenarios, to run by name."""
    out = []
    for name, path in shipped().items():
        sc = parse_scenario(path.read_text(encoding="utf-8"), path.name)
        out.append(ScenarioInfo(name=name, procedure=sc.procedure, case_id=sc.case.case_id,
                                horizon=sc.horizon.isoformat(),
                                what_ifs=[v.name for v in sc.variants],
                                batch_runs=sc.batch.runs if sc.batch else 0))
    return out


@router.post("/simulations", responses=responses(401, 403, 422))
async def simulate(req: SimulationRequest, grant: Anyone) -> dict[str, Any]:
    """Simulate a scenario: each run's deadlines with their explanations, timeline, outcome
    and sanction figures (`runs`: as written, then each what-if), and for a batch the
    outcome shares and percentiles of every key date and amount (`summary.batch`). Events
    the case refused are in each run's `rejected_events`. Nothing is written anywhere."""
    sc = load_request(req)
    return await run_in_threadpool(_simulate, sc, req.runs if sc.batch else None, req.seed)


# --- the workload forecast -------------------------------------------------------------------

ASSUMPTIONS = SCENARIOS.parent / "forecast" / "assumptions.example.yaml"
MAX_FORECAST_RUNS = 500


class ForecastRequest(BaseModel):
    """The assumptions (an assumptions file's YAML text; default: the shipped example,
    labelled assumptions), the weeks ahead and the runs per case."""

    assumptions: str | None = Field(default=None, max_length=MAX_SCENARIO_BYTES)
    weeks: int = Field(default=12, ge=1, le=52)
    runs: int = Field(default=100, ge=1, le=MAX_FORECAST_RUNS)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    procedure: str | None = Field(default=None, max_length=100)


def _forecast(states: list[Any], a: Any, req: ForecastRequest) -> dict[str, Any]:
    from datetime import UTC, datetime

    from enforcement.simulation.forecast import forecast

    if not _slots.acquire(timeout=0):
        raise ApiError(503, f"{CONCURRENT} simulations are running; try again shortly")
    try:
        f = forecast(states, a, now=datetime.now(UTC), weeks=req.weeks, runs=req.runs,
                     seed=req.seed, jobs=1)
    finally:
        _slots.release()
    return {"today": f.today.isoformat(), "weeks": f.weeks, "runs": f.runs,
            "cases": f.cases, "assumptions": f.assumptions, "headline": f.headline(),
            "rows": f.rows()}


@router.post("/forecast", responses=responses(401, 403, 422))
async def workload_forecast(req: ForecastRequest, grant: Regulator,
                            state: Engine) -> dict[str, Any]:
    """The workload forecast of every open case (`enforce forecast`): per week, the deadlines
    running out, hearings, decisions and referrals, with the median and 10th-90th
    percentiles, by procedure and stage (`*`: all); `left_out`: open cases whose workflow
    did not answer. The regulator's: it reads every case."""
    from enforcement.ops.temporal import open_case_states
    from enforcement.simulation.forecast import load_assumptions, parse_assumptions

    try:
        a = (parse_assumptions(req.assumptions, "assumptions.yaml")
             if req.assumptions is not None else load_assumptions(ASSUMPTIONS))
    except ScenarioError as exc:
        raise InvalidInput("body.assumptions", str(exc)) from None
    states, unread = await open_case_states(state.temporal, req.procedure)
    out = await run_in_threadpool(_forecast, states, a, req)
    out["left_out"] = unread
    return out
