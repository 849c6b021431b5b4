"""Every benchmark in its quick mode: it still runs, and its correctness check passes.

Each benchmark checks its own results against figures it computes independently of the
engine (benchmarks/timelimits.py: every due date against a hand-rolled baseline;
benchmarks/intake.py: every case opened is on the server as sent, and a few run to the
complaint stage with their deadline; benchmarks/simulate.py: every simulated Clearview-like
scenario reaches the liquidation with the due dates and penalty its shift gives). Its exit
status is that check's, never a speed goal's: no timing is asserted here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Generous: the machine may be busy with other work; the quick modes take seconds alone.
TIMEOUT = 270


def quick(benchmark: str) -> str:
    """Run `benchmarks/<benchmark> --quick` from the repository root; its standard output,
    after asserting that it exited 0."""
    try:
        done = subprocess.run([sys.executable, f"benchmarks/{benchmark}", "--quick"],
                              cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{benchmark} --quick did not finish in {TIMEOUT} s: {exc.stdout!r}")
    assert done.returncode == 0, (
        f"{benchmark} --quick exited {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
        f"\n--- stderr\n{done.stderr[-4000:]}")
    return done.stdout


def test_timelimits_due_dates_equal_the_baseline() -> None:
    out = quick("timelimits.py")
    assert re.search(r"^warm-up and cross-check: all 4,000 due dates identical to the "
                     r"baseline's", out, re.M), out


def test_intake_cases_are_opened_as_sent() -> None:
    out = quick("intake.py")
    found = re.search(r"^check: all (\d+) cases opened are on the server with the input sent; "
                      r"the 6 run by a worker are at the complaint stage, complainant progress "
                      r"due 2020-08-25$", out, re.M)
    assert found, out
    assert int(found[1]) >= 300  # both sides, warm-up and rounds


def test_simulated_scenarios_reach_the_liquidation_with_their_figures() -> None:
    out = quick("simulate.py")
    found = re.search(r"^check: all (\d+) simulated scenarios reached the liquidation with the "
                      r"due dates and penalty figures computed independently for their shift$",
                      out, re.M)
    assert found, out
    assert int(found[1]) >= 28  # every shift of the timeline, 0-27 days


def test_events_through_the_api_are_all_applied() -> None:
    out = quick("events.py")
    found = re.search(r"^check: all (\d+) events answered 200 and present in their cases' "
                      r"timelines; 0 lost, 0 answered 5xx$", out, re.M)
    assert found, out
    assert int(found[1]) >= 100  # warm-up and both levels, 16 and 64 in flight


def test_opening_check_gives_the_same_case_as_a_whole_copy_per_event() -> None:
    out = quick("opening.py")
    assert re.search(r"^check: all 2 histories give the same case both ways, every request's "
                     r"deadline met$", out, re.M), out


def test_forecast_counts_the_deadlines_due_each_week() -> None:
    out = quick("forecast.py")
    assert re.search(r"^check: each week's deadlines running out equal the pending deadlines "
                     r"due that week in the 60 states$", out, re.M), out


def test_console_register_lists_the_same_first_page_as_the_json_list() -> None:
    out = quick("console.py")
    assert re.search(r"^ +120 cases .*json \d+ ms, console \d+ ms", out, re.M), out
    assert "check: ok (same first page on both sides" in out, out
