"""Simulation throughput: full-lifecycle scenarios per second on the time-skipping server.

    .venv/bin/python benchmarks/simulate.py [--compare 40] [--scenarios 1000] [--processes 2]

1. On one time-skipping server and one worker, in the same run, for each way `enforce
   simulate` runs (without `--register`: no register, no activity; with `--register`: one
   register write per transition, notifications recorded in it): `--compare` Clearview-like
   scenarios through the real workflows (`enforcement.simulation`: the case workflow and its
   sanction child, the events in the case's script, the unsandboxed runner), then as many
   bare workflows with the same number of timers and activities per scenario (counted from
   the simulated histories; no-op activities; the same runner), and the ratio. Both are
   warmed up first on a few scenarios of their own.
2. `--scenarios` Clearview-like scenarios (without `--register`) split over `--processes`
   processes, each with its own time-skipping server and worker: the wall time from launch
   to the last result; then as many bare workflows, split the same way.

A Clearview-like scenario is scenarios/clearview.yaml as written, its whole timeline shifted
by 0-27 days so the cases' instants do not all coincide. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enforcement.models import EVENT_ADAPTER, Event  # noqa: E402
from enforcement.scenarios import load_scenario  # noqa: E402
from enforcement.simulation import (  # noqa: E402
    RUNNER,
    STEP,
    SimCase,
    Simulator,
    run_cases,
    simulator,
    skip,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bare import BareLifecycle, noop  # noqa: E402

SCENARIO = ROOT / "scenarios" / "clearview.yaml"


def _shift_event(ev: Event, days: int) -> Event:
    data = ev.model_dump()
    data["date"] = ev.date + timedelta(days=days)
    for key in ("hearing_date", "cutoff", "until"):
        if isinstance(data.get(key), date):
            data[key] = data[key] + timedelta(days=days)
    return EVENT_ADAPTER.validate_python(data)


def clearview_like(n: int, start: int = 0) -> list[SimCase]:
    sc = load_scenario(SCENARIO)
    plan = sc.plan()
    out = []
    for i in range(start, start + n):
        shift = i % 28
        case = sc.case.model_copy(update={"case_id": f"CV-{i}"})
        out.append(SimCase(case, [_shift_event(e, shift) for e in plan.events],
                           plan.horizon + timedelta(days=shift)))
    return out


# The bare workflow lives in its own module: the sandbox re-imports a workflow's module
# by name, which a script run as __main__ does not have.

WARM_UP = 4


async def _history_counts(sim: Simulator, workflow_ids: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for wid in workflow_ids:
        handle = sim.env.client.get_workflow_handle(wid)
        async for ev in handle.fetch_history_events():
            counts[ev.WhichOneof("attributes") or ""] += 1
    return counts


async def _simulate(sim: Simulator, cases: list[SimCase]) -> tuple[float, Counter[str]]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    t0 = time.perf_counter()
    outcomes = await run_cases(sim.env, sim.task_queue, cases, prefix=prefix,
                               effects=sim.effects)
    seconds = time.perf_counter() - t0
    assert all(o.status.stage == "liquidated" for o in outcomes), "incomplete runs"
    first = f"{prefix}{'0-' if len(cases) > 1 else ''}{cases[0].case.case_id}"
    return seconds, await _history_counts(sim, [first, f"{first}:sanction"])


async def _bare(sim: Simulator, n: int, timers: int, activities: int) -> float:
    """n bare workflows on the simulation's server, on their own task queue."""
    task_queue = f"bare-{uuid.uuid4().hex[:6]}"
    async with Worker(sim.env.client, task_queue=task_queue, workflows=[BareLifecycle],
                      activities=[noop], workflow_runner=RUNNER,
                      activity_executor=_executor(), max_cached_workflows=max(1000, n + 100)):
        t0 = time.perf_counter()
        for i in range(n):
            await sim.env.client.start_workflow(
                BareLifecycle.run, [timers, activities], id=f"bare-{i}-{uuid.uuid4().hex[:6]}",
                task_queue=task_queue)
        span = timedelta(days=30 * timers + 1)
        done = timedelta(0)
        while done < span:
            step = min(STEP, span - done)
            await skip(sim.env, step)
            done += step
        return time.perf_counter() - t0


async def compare(n: int, register: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'register.db'}" if register else None
        async with simulator(url, cases_hint=n + WARM_UP) as sim:
            _, counts = await _simulate(sim, clearview_like(WARM_UP))
            timers = counts["timer_started_event_attributes"]
            activities = counts["activity_task_scheduled_event_attributes"]
            await _bare(sim, WARM_UP, timers, activities)
            sim_seconds, counts = await _simulate(sim, clearview_like(n))
            bare_seconds = await _bare(sim, n, timers, activities)
    return {"scenarios": n, "timers": timers, "activities": activities,
            "signals": counts["workflow_execution_signaled_event_attributes"],
            "workflow_tasks": counts["workflow_task_completed_event_attributes"],
            "sim_seconds": sim_seconds, "sim_rate": n / sim_seconds,
            "bare_seconds": bare_seconds, "bare_rate": n / bare_seconds}


def _executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=16)


async def part(n: int, start: int, bare_timers: int | None) -> dict[str, Any]:
    """One process's share: n scenarios, or n bare workflows with `bare_timers` timers."""
    cases = clearview_like(n, start)
    t0 = time.perf_counter()
    async with simulator(cases_hint=n) as sim:
        t1 = time.perf_counter()
        if bare_timers is not None:
            await _bare(sim, n, bare_timers, 0)
            ok = n
        else:
            outcomes = await sim.run(cases)
            ok = sum(1 for o in outcomes if o.status.stage == "liquidated")
        t2 = time.perf_counter()
    return {"scenarios": n, "ok": ok, "startup_seconds": t1 - t0, "run_seconds": t2 - t1}


async def timers_per_scenario() -> int:
    async with simulator(cases_hint=1) as sim:
        _, counts = await _simulate(sim, clearview_like(1))
    return counts["timer_started_event_attributes"]


def parallel(total: int, processes: int, bare_timers: int | None = None) -> dict[str, Any]:
    shares = [total // processes + (1 if i < total % processes else 0)
              for i in range(processes)]
    starts = [sum(shares[:i]) for i in range(processes)]
    t0 = time.perf_counter()
    bare = ["--bare-timers", str(bare_timers)] if bare_timers is not None else []
    procs = [subprocess.Popen([sys.executable, __file__, "--part", str(n), "--start", str(s),
                               *bare],
                              stdout=subprocess.PIPE, text=True)
             for n, s in zip(shares, starts, strict=True) if n]
    parts = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a part failed with exit code {p.returncode}")
        parts.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - t0
    return {"scenarios": total, "processes": len(procs), "wall_seconds": wall,
            "rate": total / wall, "parts": parts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", type=int, default=40,
                    help="scenarios for the comparison with the bare workflow (0: skip)")
    ap.add_argument("--scenarios", type=int, default=1000,
                    help="scenarios for the parallel run (0: skip)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--part", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--bare-timers", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    if args.part is not None:
        print(json.dumps(asyncio.run(part(args.part, args.start, args.bare_timers))),
              flush=True)
        os._exit(0)  # no interpreter teardown: see enforcement.cli.main
    print(f"simulation benchmark, {datetime.now().isoformat(timespec='seconds')}, "
          f"Python {sys.version.split()[0]}")
    if args.compare:
        for register in (False, True):
            c = asyncio.run(compare(args.compare, register))
            how = "with --register" if register else "without --register"
            print(f"{how}: per Clearview-like scenario {c['timers']} timers, "
                  f"{c['activities']} activities, {c['signals']} signals, "
                  f"{c['workflow_tasks']} workflow tasks (case and sanction child)")
            print(f"  one server, {c['scenarios']} scenarios: simulation {c['sim_rate']:.2f}/s "
                  f"({c['sim_seconds']:.1f} s); bare workflow {c['bare_rate']:.2f}/s "
                  f"({c['bare_seconds']:.1f} s); ratio {c['sim_rate'] / c['bare_rate']:.2f} "
                  f"(goal >= 0.70)")
    if args.scenarios:
        p = parallel(args.scenarios, args.processes)
        ok = sum(x["ok"] for x in p["parts"])
        print(f"{p['scenarios']} scenarios on {p['processes']} processes (a server and a "
              f"worker each): {p['wall_seconds']:.1f} s wall, {p['rate']:.2f}/s "
              f"(goal: under 60 s); {ok} reached the liquidation")
        for i, x in enumerate(p["parts"]):
            print(f"  process {i}: {x['scenarios']} scenarios, startup "
                  f"{x['startup_seconds']:.1f} s, simulation {x['run_seconds']:.1f} s")
        timers = asyncio.run(timers_per_scenario())
        b = parallel(args.scenarios, args.processes, bare_timers=timers)
        print(f"the same split, bare workflows with {timers} timers and no activity: "
              f"{b['wall_seconds']:.1f} s wall, {b['rate']:.2f}/s; ratio "
              f"{p['rate'] / b['rate']:.2f}")


if __name__ == "__main__":
    main()

