"""Workload forecast throughput: open cases x runs carried forward per second.

    .venv/bin/python benchmarks/forecast.py [--cases 1000] [--runs 100] [--jobs 2]
    .venv/bin/python benchmarks/forecast.py --quick    # 60 cases x 10 runs

The open cases are made here by the case machine itself (no server: the forecast's reading
of states from running workflows is tested in tests/interfaces/test_forecast_cli.py): CNIL
formal notices given 0-55 days before today with 2 months to comply, ICO notices of intent
given 0-20 days before today. The wall time of `forecast()` is printed for the shipped
example assumptions (goal: 1,000 cases x 100 runs under 60 s on the two-core machine).

The check (the exit status): with no step assumed, each week's median of deadlines running
out must equal the count, made here from the states alone, of the pending deadlines due
that week (nothing answers them); and --jobs 1 and --jobs N must give the same rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enforcement.case.machine import CaseState  # noqa: E402
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller  # noqa: E402
from enforcement.families import get_procedure, open_machine  # noqa: E402
from enforcement.simulation.forecast import (  # noqa: E402
    forecast,
    load_assumptions,
    parse_assumptions,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
TODAY = NOW.date()


def states(n: int) -> list[CaseState]:
    out = []
    for i in range(n):
        ico = i % 4 == 3
        procedure = "uk-ico" if ico else "fr-cnil"
        m = open_machine(CaseInput(case_id=f"B-{i}", procedure=procedure,
                                   controller=Controller(name=f"C{i}", country="FR")),
                         get_procedure(procedure), datetime(2025, 12, 1, tzinfo=UTC))
        given = TODAY - timedelta(days=(i * 7) % (21 if ico else 56))
        ev = ({"type": "notice_of_intent_given", "date": given} if ico else
              {"type": "formal_notice_issued", "date": given, "period": "2 months"})
        m.apply(EVENT_ADAPTER.validate_python(ev), NOW)
        m.advance(NOW)
        out.append(m.s)
    return out


def expected_deadlines(sts: list[CaseState], weeks: int) -> Counter[int]:
    """Pending deadlines due in each week, from the states alone."""
    c: Counter[int] = Counter()
    for st in sts:
        for dl in st.deadlines:
            w = (date.fromisoformat(dl.due[:10]) - TODAY).days // 7
            if dl.status == "pending" and 0 <= w < weeks:
                c[w] += 1
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.cases, args.runs = 60, 10
    sts = states(args.cases)
    print(f"forecast benchmark, {datetime.now().isoformat(timespec='seconds')}: "
          f"{args.cases} open cases x {args.runs} runs, {args.weeks} weeks, "
          f"--jobs {args.jobs}")
    wrong = []
    none = parse_assumptions("procedures:\n  fr-cnil: []\n  uk-ico: []\n", "no steps")
    f = forecast(sts, none, now=NOW, weeks=args.weeks, runs=3, jobs=args.jobs)
    want = expected_deadlines(sts, args.weeks)
    for r in f.rows():
        if r["procedure"] == "*" and r["kind"] == "deadlines" \
                and (r["p50"], r["p10"]) != (want[r["week"]], want[r["week"]]):
            wrong.append(f"week {r['week']}: {r['p50']} deadlines running out, "
                         f"{want[r['week']]} due")
    example = load_assumptions(ROOT / "forecast" / "assumptions.example.yaml")
    t0 = time.perf_counter()
    f = forecast(sts, example, now=NOW, weeks=args.weeks, runs=args.runs, jobs=args.jobs)
    seconds = time.perf_counter() - t0
    runs = args.cases * args.runs
    print(f"example assumptions: {seconds:.1f} s wall, {runs / seconds:.0f} case-runs/s"
          + (" (goal: 1,000 x 100 under 60 s)" if runs >= 100_000 else ""))
    head = f.headline()
    print("next week: " + ", ".join(f"{k} {r['p50']} ({r['p10']}-{r['p90']})"
                                    for k, r in head.items()))
    if args.quick:
        one = forecast(sts, example, now=NOW, weeks=args.weeks, runs=args.runs, jobs=1)
        if one.rows() != f.rows():
            wrong.append(f"--jobs 1 and --jobs {args.jobs} give different rows")
    if wrong:
        print(f"CHECK FAILED: {'; '.join(wrong[:5])}", file=sys.stderr)
        return 1
    print(f"check: each week's deadlines running out equal the pending deadlines due that "
          f"week in the {args.cases} states")
    return 0


if __name__ == "__main__":
    sys.exit(main())
