"""The opening check of a case with a long history: time per event as the history grows,
next to the whole-state copy per event it replaced, measured in the same run.

    .venv/bin/python benchmarks/opening.py            # ~2 min (the baseline at 1,600)
    .venv/bin/python benchmarks/opening.py --quick    # ~3 s

A case may be opened with its history so far (`POST /cases` with `events`): each event is
checked against the stage the earlier ones lead to, all or nothing. The check used to copy
the whole case state before each event (so that a refused event changes nothing), which made
it quadratic: 5.5 s for 400 events, and a workflow's first task stalled ("potential
deadlock"). It now copies only what an event can change in place. This script opens
histories of 100, 400 and 1,600 events (the API takes at most 100; the larger ones show the
growth) both ways: the engine's check, and the same check with the state deep-copied before
each event (the baseline).

Each history is an investigation with requests for information answered the same day. The
check: both ways give the same case (stage, deadlines and their statuses, timeline), and that
case is what the history says by hand: one information-response deadline per request, each
met, the complainant's progress deadline met by the investigation. The exit status is that
check's, never a speed goal's (tests/benchmarks/test_benchmarks.py runs --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import enforcement.case.machine as case_module
from enforcement.case.machine import CaseState, Machine
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Event
from enforcement.families import get_procedure, in_legal_order, open_machine

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
START = date(2020, 1, 6)


def history(n: int) -> list[Event]:
    """A complaint, an investigation, then requests for information each answered the day
    it was made: n events."""
    raw: list[dict[str, Any]] = [
        {"type": "complaint_received", "date": START.isoformat(), "subject": "s",
         "complainant_ref": "c"},
        {"type": "investigation_opened", "date": START.isoformat(), "kind": "online"}]
    day = START
    while len(raw) < n:
        day += timedelta(days=1)
        raw += [{"type": "information_requested", "date": day.isoformat(), "period": "1 month",
                 "id": f"r{len(raw)}"},
                {"type": "information_provided", "date": day.isoformat(), "id": f"p{len(raw)}"}]
    return [EVENT_ADAPTER.validate_python(e) for e in raw[:n]]


def opened(events: list[Event]) -> Machine:
    """The engine's opening check, as `check_opening` runs it (the count bound aside)."""
    proc = get_procedure("fr-cnil")
    case = CaseInput.model_construct(case_id="BENCH-1", procedure="fr-cnil",
                                     controller=Controller(name="A", country="FR"),
                                     complainant_ref=None, complainant_email=None,
                                     complainant_language="fr", subject="", events=[])
    m = open_machine(case, proc, NOW)
    for _, ev in in_legal_order(events, proc):
        m.apply_opening(ev, NOW)
    return m


def deep_copy(state: CaseState) -> CaseState:
    return state.model_copy(deep=True)


def timed(fn: Callable[[], Machine], snapshot: Callable[[CaseState], CaseState]) -> tuple[
        float, Machine]:
    saved = case_module._snapshot
    case_module._snapshot = snapshot  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        m = fn()
        return time.perf_counter() - t, m
    finally:
        case_module._snapshot = saved


def outcome(m: Machine) -> tuple[Any, ...]:
    s = m.s
    return (s.stage, [(d.name, d.status, d.due) for d in s.deadlines],
            [(t.date, t.kind, t.name, t.detail) for t in s.timeline])


def expected_ok(m: Machine, n: int) -> bool:
    requests = (n - 2 + 1) // 2
    names = sorted((d.name, d.status) for d in m.s.deadlines)
    return m.s.stage == "investigation" and names == sorted(
        [("complainant_progress", "met")] + [("information_response", "met")] * requests)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run (~3 s)")
    args = ap.parse_args()
    sizes = (100, 400) if args.quick else (100, 400, 1600)
    print(f"opening check, fr-cnil, histories of {', '.join(map(str, sizes))} events")
    print(f"{'events':>7} {'engine ms':>10} {'per event':>10} {'deep copy ms':>13} "
          f"{'per event':>10} {'ratio':>7}")
    opened(history(20))  # warm-up: the calendar's holidays, the models' validators
    ok = True
    for n in sizes:
        events = history(n)
        engine_s, m = timed(partial(opened, events), case_module._snapshot)
        base_s, b = timed(partial(opened, events), deep_copy)
        same = outcome(m) == outcome(b) and expected_ok(m, n)
        ok &= same
        print(f"{n:>7} {engine_s * 1e3:>10.1f} {engine_s / n * 1e6:>8.0f}us "
              f"{base_s * 1e3:>13.1f} {base_s / n * 1e6:>8.0f}us {base_s / engine_s:>7.1f}"
              + ("" if same else "  MISMATCH"))
    if not ok:
        print("check: FAILED: the two ways, or the hand count, disagree")
        return 1
    print(f"check: all {len(sizes)} histories give the same case both ways, every request's "
          "deadline met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
