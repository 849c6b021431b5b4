"""Simulation throughput: the in-process engine against the real workflows, and the scale a
Monte Carlo batch reaches.

    .venv/bin/python benchmarks/simulate.py [--engines 400] [--scale 10000,100000]
                                            [--compare 40] [--scenarios 1000] [--processes 2]
    .venv/bin/python benchmarks/simulate.py --quick    # ~1 min: small sizes of every part

0. `--engines` Clearview-like scenarios through both engines in the same run: the in-process
   engine (`enforcement.simulation.local`, one process) and the real workflows on one
   time-skipping server (`enforcement.simulation.engine`); their rates and ratio, and a
   check that both give the same output for every scenario, field by field.
0b. `--scale`: the wall time of `enforce simulate scenarios/clearview-uncertain.yaml --runs N`
   on the in-process engine with its default jobs (the machine's cores), from launch to exit
   (start-up, draws, runs, summary and chart included), for each N; goals: 10,000 under
   30 s, 100,000 under 60 s. In quick mode, the same batch with --jobs 1 and --jobs 2 must
   give the same summary.

1. On one time-skipping server and one worker, in the same run, for each way `enforce
   simulate` runs (without `--register`: no register, no activity; with `--register`: one
   register write per transition, notifications recorded in it): `--compare` Clearview-like
   scenarios through the real workflows (`enforcement.simulation.engine`: the case workflow and its
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

Every simulated scenario (warm-up included) is checked against figures computed here,
independently of the engine (`relativedelta` and the `holidays` package): the case reached
the liquidation, with the injunction and appeal due dates, the penalty days and amounts its
shift gives (shift 0 is the public record: injunction due Monday 2022-12-19, 52 days of
EUR 100,000 to the 9 Feb 2023 cut-off, EUR 5,200,000). The exit status is that check's:
1 when any scenario differs, whatever the speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
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
from dateutil.relativedelta import relativedelta
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enforcement.case.models import EVENT_ADAPTER, Event  # noqa: E402
from enforcement.simulation import local  # noqa: E402
from enforcement.simulation.batch import RunResult, run_object  # noqa: E402
from enforcement.simulation.engine import (  # noqa: E402
    RUNNER,
    STEP,
    Simulator,
    run_cases,
    simulator,
    skip,
)
from enforcement.simulation.model import SimCase, SimOutcome  # noqa: E402
from enforcement.simulation.scenarios import RunPlan, load_scenario  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bare import BareLifecycle, noop  # noqa: E402
from reference import fr_due  # noqa: E402

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


# --- the check: what each Clearview-like scenario must end with, computed here -----------

# scenarios/clearview.yaml, from the public record (SAN-2022-019, SAN-2023-005), and the
# periods of procedures/fr-cnil.toml: each deadline's trigger (unshifted) and period
DEADLINES = {
    "complainant_progress": (date(2020, 5, 25), relativedelta(months=3)),  # GDPR 78(2)
    "formal_notice_compliance": (date(2021, 11, 26), relativedelta(months=2)),  # the notice's
    "report_observations": (date(2022, 7, 14), relativedelta(months=1)),  # décret 40
    # CJA R421-1 (a délai franc), + 2 months abroad (R421-7)
    "appeal": (date(2022, 10, 17), relativedelta(months=4)),
    "injunction_compliance": (date(2022, 10, 17), relativedelta(months=2)),  # the decision's
    "liquidation_observations": (date(2023, 2, 9), relativedelta(days=15)),  # décret 44
}
CUTOFF = date(2023, 2, 9)            # liquidation_opened's cutoff
PER_DAY = 100_000
FINE = 20_000_000
def expected(shift: int) -> dict[str, Any]:
    """The figures a Clearview-like scenario shifted by `shift` days must show: each
    deadline's due date, and the penalty from the day after the injunction's due date to the
    cut-off, both included."""
    dues = {name: fr_due(trigger + timedelta(days=shift), period,
                         franc=name == "appeal").isoformat()
            for name, (trigger, period) in DEADLINES.items()}
    days = (CUTOFF + timedelta(days=shift) - date.fromisoformat(
        dues["injunction_compliance"])).days
    return {"stage": "liquidated", "deadlines": sorted(dues),
            **{f"{name} due": due for name, due in dues.items()}, "fine_eur": FINE,
            "penalty_per_day_eur": PER_DAY, "penalty_days": days, "penalty_eur": days * PER_DAY,
            "liquidated_eur": days * PER_DAY, "rejected": 0}


# The checker against the public record (README, "A check against the public record").
assert expected(0)["injunction_compliance due"] == "2022-12-19"
assert expected(0)["appeal due"] == "2023-02-20"  # Fri 17 Feb, franc Sat 18, rolled Mon 20
assert date(2022, 12, 19).weekday() == 0
assert expected(0)["penalty_days"] == 52 and expected(0)["liquidated_eur"] == 5_200_000


def check(cases: list[SimCase], outcomes: list[SimOutcome]) -> list[str]:
    """What differs from `expected` in each outcome: one line per scenario that is wrong."""
    wrong = []
    for sim, o in zip(cases, outcomes, strict=True):
        shift = int(sim.case.case_id.rsplit("-", 1)[1]) % 28
        st = o.status
        got = {"stage": st.stage, "deadlines": sorted(d.name for d in st.deadlines),
               **{f"{d.name} due": d.due for d in st.deadlines},
               "fine_eur": st.sanction.fine_eur,
               "penalty_per_day_eur": st.sanction.penalty_per_day_eur,
               "penalty_days": st.sanction.penalty_days, "penalty_eur": st.sanction.penalty_eur,
               "liquidated_eur": st.sanction.liquidated_eur, "rejected": len(o.rejected)}
        want = expected(shift)
        diff = [f"{k} {got.get(k)} (expected {v})" for k, v in want.items() if got.get(k) != v]
        if diff:
            wrong.append(f"{sim.case.case_id} (shift {shift}): {'; '.join(diff)}")
    return wrong


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


async def _simulate(sim: Simulator, cases: list[SimCase]
                    ) -> tuple[float, Counter[str], list[str]]:
    """The seconds `cases` took, the history counts of the first one, and what was wrong."""
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    t0 = time.perf_counter()
    outcomes = await run_cases(sim.env, sim.task_queue, cases, prefix=prefix,
                               effects=sim.effects)
    seconds = time.perf_counter() - t0
    first = f"{prefix}{'0-' if len(cases) > 1 else ''}{cases[0].case.case_id}"
    counts = await _history_counts(sim, [first, f"{first}:sanction"])
    return seconds, counts, check(cases, outcomes)


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


async def compare(n: int, register: bool, warm_up: int = WARM_UP) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'register.db'}" if register else None
        async with simulator(url, cases_hint=n + warm_up) as sim:
            _, counts, wrong = await _simulate(sim, clearview_like(warm_up))
            timers = counts["timer_started_event_attributes"]
            activities = counts["activity_task_scheduled_event_attributes"]
            await _bare(sim, warm_up, timers, activities)
            sim_seconds, counts, wrong_n = await _simulate(sim, clearview_like(n))
            bare_seconds = await _bare(sim, n, timers, activities)
    return {"scenarios": n, "checked": warm_up + n, "wrong": wrong + wrong_n,
            "timers": timers, "activities": activities,
            "signals": counts["workflow_execution_signaled_event_attributes"],
            "workflow_tasks": counts["workflow_task_completed_event_attributes"],
            "sim_seconds": sim_seconds, "sim_rate": n / sim_seconds,
            "bare_seconds": bare_seconds, "bare_rate": n / bare_seconds}


def engines(n: int) -> dict[str, Any]:
    """Both engines on the same n Clearview-like scenarios (each warmed up first)."""
    cases = clearview_like(n)
    local.run_cases(clearview_like(2))
    t0 = time.perf_counter()
    mine = local.run_cases(cases)
    local_seconds = time.perf_counter() - t0

    async def on_server() -> tuple[float, list[SimOutcome]]:
        async with simulator(cases_hint=n + 2) as sim:
            await sim.run(clearview_like(2))
            t1 = time.perf_counter()
            outcomes = await sim.run(cases)
            return time.perf_counter() - t1, outcomes

    temporal_seconds, theirs = asyncio.run(on_server())

    def obj(sim: SimCase, o: SimOutcome) -> dict[str, Any]:
        plan = RunPlan("scenario", None, sim.events, sim.horizon)
        return run_object(RunResult(plan, o))

    differ = [c.case.case_id for c, a, b in zip(cases, mine, theirs, strict=True)
              if obj(c, a) != obj(c, b)]
    return {"scenarios": n, "local_seconds": local_seconds, "local_rate": n / local_seconds,
            "temporal_seconds": temporal_seconds, "temporal_rate": n / temporal_seconds,
            "wrong": check(cases, mine) + check(cases, theirs),
            "differ": differ}


UNCERTAIN = ROOT / "scenarios" / "clearview-uncertain.yaml"
ENFORCE = Path(sys.executable).parent / "enforce"


def scale(runs: int, *extra: str) -> tuple[float, str]:
    """`enforce simulate` on the uncertain Clearview scenario: its wall time and output."""
    t0 = time.perf_counter()
    done = subprocess.run([str(ENFORCE), "simulate", str(UNCERTAIN), "--runs", str(runs),
                           *extra], capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"enforce simulate --runs {runs} failed: {done.stderr.strip()}")
    return seconds, done.stdout


def _executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=16)


async def part(n: int, start: int, bare_timers: int | None) -> dict[str, Any]:
    """One process's share: n scenarios, or n bare workflows with `bare_timers` timers."""
    cases = clearview_like(n, start)
    t0 = time.perf_counter()
    async with simulator(cases_hint=n) as sim:
        t1 = time.perf_counter()
        wrong: list[str] = []
        if bare_timers is not None:
            await _bare(sim, n, bare_timers, 0)
            ok = n
        else:
            outcomes = await sim.run(cases)
            ok = sum(1 for o in outcomes if o.status.stage == "liquidated")
            wrong = check(cases, outcomes)
        t2 = time.perf_counter()
    return {"scenarios": n, "ok": ok, "wrong": wrong, "startup_seconds": t1 - t0,
            "run_seconds": t2 - t1}


async def timers_per_scenario() -> tuple[int, list[str]]:
    async with simulator(cases_hint=1) as sim:
        _, counts, wrong = await _simulate(sim, clearview_like(1))
    return counts["timer_started_event_attributes"], wrong


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", type=int, default=400,
                    help="scenarios through both engines (0: skip)")
    ap.add_argument("--scale", default="10000,100000",
                    help="batch sizes to time with enforce simulate (empty: skip)")
    ap.add_argument("--compare", type=int, default=40,
                    help="scenarios for the comparison with the bare workflow (0: skip)")
    ap.add_argument("--scenarios", type=int, default=1000,
                    help="scenarios for the parallel run (0: skip)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="a short run: --compare 4 (1 warm-up) --scenarios 28 (every shift)")
    ap.add_argument("--part", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--bare-timers", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    if args.part is not None:
        print(json.dumps(asyncio.run(part(args.part, args.start, args.bare_timers))),
              flush=True)
        os._exit(0)  # no interpreter teardown: see enforcement.interfaces.cli.main
    warm_up = WARM_UP
    if args.quick:
        args.compare, args.scenarios, warm_up = 4, 28, 1
        args.engines, args.scale = 28, "300"
    checked, wrong = 0, []
    timers = None
    print(f"simulation benchmark, {datetime.now().isoformat(timespec='seconds')}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    if args.engines:
        e = engines(args.engines)
        checked += 2 * args.engines
        wrong += e["wrong"]
        wrong += [f"{cid}: the engines' outputs differ" for cid in e["differ"]]
        print(f"both engines, {e['scenarios']} Clearview-like scenarios: in-process "
              f"{e['local_rate']:.0f}/s ({e['local_seconds']:.2f} s, one process); Temporal "
              f"time-skipping {e['temporal_rate']:.1f}/s ({e['temporal_seconds']:.1f} s); "
              f"ratio {e['local_rate'] / e['temporal_rate']:.1f}x; outputs identical: "
              f"{e['scenarios'] - len(e['differ'])} of {e['scenarios']}")
    for runs in [int(x) for x in args.scale.split(",") if x]:
        seconds, out = scale(runs)
        goal = {10_000: " (goal: under 30 s)", 100_000: " (goal: under 60 s)"}.get(runs, "")
        print(f"enforce simulate clearview-uncertain.yaml --runs {runs}: {seconds:.1f} s wall "
              f"on {os.cpu_count()} cores{goal}, {runs / seconds:.0f} runs/s")
        if not re.search(rf"Batch: {runs} runs", out):
            wrong.append(f"--runs {runs}: no batch of {runs} runs in the output")
        if args.quick:
            one = json.loads(scale(runs, "--jobs", "1", "--json")[1])["summary"]
            two = json.loads(scale(runs, "--jobs", "2", "--json")[1])["summary"]
            if one != two:
                wrong.append(f"--runs {runs}: --jobs 1 and --jobs 2 give different summaries")
            print(f"  --jobs 1 and --jobs 2: {'the same' if one == two else 'DIFFERENT'} "
                  f"summary")
    if args.compare:
        for register in (False, True):
            c = asyncio.run(compare(args.compare, register, warm_up))
            checked += c["checked"]
            wrong += c["wrong"]
            if not register:
                timers = c["timers"]
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
        checked += args.scenarios
        wrong += [w for x in p["parts"] for w in x["wrong"]]
        print(f"{p['scenarios']} scenarios on {p['processes']} processes (a server and a "
              f"worker each): {p['wall_seconds']:.1f} s wall, {p['rate']:.2f}/s "
              f"(goal: under 60 s); {ok} reached the liquidation")
        for i, x in enumerate(p["parts"]):
            print(f"  process {i}: {x['scenarios']} scenarios, startup "
                  f"{x['startup_seconds']:.1f} s, simulation {x['run_seconds']:.1f} s")
        if timers is None:
            timers, wrong_t = asyncio.run(timers_per_scenario())
            checked += 1
            wrong += wrong_t
        b = parallel(args.scenarios, args.processes, bare_timers=timers)
        print(f"the same split, bare workflows with {timers} timers and no activity: "
              f"{b['wall_seconds']:.1f} s wall, {b['rate']:.2f}/s; ratio "
              f"{p['rate'] / b['rate']:.2f}")
    if wrong:
        print(f"CHECK FAILED: {len(wrong)} of {checked} simulated scenarios differ from the "
              f"figures computed independently, e.g.", file=sys.stderr)
        for line in wrong[:10]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"check: all {checked} simulated scenarios reached the liquidation with the due "
          f"dates and penalty figures computed independently for their shift")
    return 0


if __name__ == "__main__":
    sys.exit(main())

