"""Legal time (domain.md section 3, item 12): the engine judges deadlines by the dates of
events, whenever they are recorded; a party's right ends exercised or lapsed, an obligation
met or missed; implausible dates are refused and change nothing; every event keeps who
recorded it and when. Pure: the machine driven as the workflow drives it, no server.

Every date is worked out by hand in a comment."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcement.case.machine import EventRejected
from enforcement.case.models import EVENT_ADAPTER, StatusChange
from tests.case.test_machine_behaviour import (
    COMPLAINT,
    PARIS,
    PENALTY_DECISION,
    TO_HEARING,
    Case,
    ev,
)
from tests.case.test_machine_behaviour import case as open_case


def late(c: Case, event: dict[str, Any], recorded_on: str, by: str = "a.martin") -> Any:
    """Record `event` (with its own legal date) at 18:00 Paris on `recorded_on`; the effects
    it produced."""
    c.run_to(datetime.fromisoformat(recorded_on).replace(hour=18, tzinfo=PARIS))
    c.m.take_effects()
    assert c.m.apply(EVENT_ADAPTER.validate_python(event), c.now, by)
    return c.m.take_effects()


# Notified Sat 21 Feb 2026. Appeal: 2 months, a délai franc (CJA R421-1): Tue 21 Apr is the
# same-numbered day, so Wed 22 Apr 2026, expiring at 24:00 Paris (22:00 UTC). Injunction:
# 1 month, Sat 21 Mar rolled to Mon 23 Mar 2026.


def test_an_appeal_lodged_in_time_and_recorded_late_is_exercised_and_the_change_is_kept() -> None:
    c = open_case(*PENALTY_DECISION)
    c.run_to(datetime(2026, 4, 30, 9, tzinfo=PARIS))
    assert c.deadline("appeal").status == "lapsed"  # its timer ran out on 23 Apr, 00:00
    fx = late(c, ev("appeal_lodged", "2026-04-22", court="Conseil d'État"), "2026-04-30")
    rec = c.deadline("appeal")
    assert rec.status == "exercised"
    reason = ("appeal_lodged dated 2026-04-22 was recorded on 2026-04-30, after the deadline "
              "had been marked lapsed; it was in time (due 2026-04-22)")
    assert rec.history == [StatusChange(
        status="lapsed", to="exercised", recorded_at=datetime(2026, 4, 30, 18, tzinfo=PARIS),
        recorded_by="a.martin", reason=reason)]
    # The register appends the change under a key of its own (the lapsed row stays).
    rows = {r.key: r.data for r in fx.register if r.table == "deadlines"}
    [(key, row)] = rows.items()
    assert key.startswith(f"B-1:deadline:{rec.seq}:corrected:")
    assert (row["status"], row["corrected_from"], row["recorded_by"]) == (
        "exercised", "lapsed", "a.martin")
    # The case handler is told, beside what went out before.
    [note] = [n for n in fx.notifications if n.template == "deadline_corrected"]
    assert (note.party, note.subject) == (
        "case_handler", "[B-1] Deadline corrected: appeal exercised, not lapsed")
    assert note.data["reason"] == reason
    # The timeline keeps the legal date and says when and by whom it was recorded.
    entry = next(t for t in c.m.s.timeline if t.kind == "event" and t.name == "appeal_lodged")
    assert (entry.date, entry.recorded_at, entry.recorded_by) == (
        "2026-04-22", datetime(2026, 4, 30, 18, tzinfo=PARIS), "a.martin")


def test_an_appeal_dated_after_the_period_leaves_the_right_lapsed() -> None:
    c = open_case(*PENALTY_DECISION)
    c.run_to(datetime(2026, 4, 30, 9, tzinfo=PARIS))
    fx = late(c, ev("appeal_lodged", "2026-04-23"), "2026-04-30")  # a day too late
    assert c.deadline("appeal").status == "lapsed"
    assert c.deadline("appeal").history == []
    assert [r.table for r in fx.register] == ["events"]  # recorded, nothing corrected


def test_compliance_on_the_due_day_recorded_a_week_later_meets_the_injunction() -> None:
    c = open_case(*PENALTY_DECISION)
    c.run_to(datetime(2026, 3, 30, 9, tzinfo=PARIS))
    assert c.deadline("injunction_compliance").status == "missed"
    late(c, ev("compliance_established", "2026-03-23"), "2026-03-30")
    rec = c.deadline("injunction_compliance")
    assert rec.status == "met"
    assert [(h.status, h.to) for h in rec.history] == [("missed", "met")]
    # Compliance on the due day: no day of delay, whatever the recording date.
    pub = c.m.status(datetime(2026, 6, 1, tzinfo=PARIS))
    assert (pub.sanction.penalty_days, pub.sanction.penalty_eur) == (0, 0)


def test_an_observations_period_unused_lapses_and_an_unanswered_request_is_missed() -> None:
    # Report notified Tue 6 Jan 2026: 1 month, Fri 6 Feb 2026. A request of Wed 7 Jan for
    # 15 days: Thu 22 Jan 2026.
    c = open_case(*TO_HEARING[:2])
    c.run_to(datetime(2026, 2, 9, 9, tzinfo=PARIS))
    assert c.deadline("report_observations").status == "lapsed"  # the controller's right
    c = open_case(COMPLAINT, ev("information_requested", "2026-01-07", period="15 days"))
    c.run_to(datetime(2026, 2, 9, 9, tzinfo=PARIS))
    assert c.deadline("information_response").status == "missed"  # an obligation


def test_late_observations_in_time_for_a_lapsed_liquidation_period_are_accepted() -> None:
    # Liquidation opened Fri 10 Apr 2026: 15 days, Sat 25 Apr -> Mon 27 Apr 2026.
    c = open_case(*PENALTY_DECISION, ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"))
    c.run_to(datetime(2026, 5, 4, 9, tzinfo=PARIS))
    assert c.deadline("liquidation_observations").status == "lapsed"
    late(c, ev("observations_submitted", "2026-04-27"), "2026-05-04")
    assert c.deadline("liquidation_observations").status == "exercised"


def refused(c: Case, event: dict[str, Any], message: str) -> None:
    before = c.m.s.model_dump()
    with pytest.raises(EventRejected) as err:
        c.m.apply(EVENT_ADAPTER.validate_python(event), c.now, "a.martin")
    assert str(err.value) == message
    assert c.m.s.model_dump() == before
    assert not c.m.take_effects()


def test_a_mistyped_year_before_the_complaint_is_refused_and_refers_nothing() -> None:
    c = open_case(ev("complaint_received", "2026-11-02", subject="s", complainant_ref="C"),
                  opened="2026-11-02")
    refused(c, ev("formal_notice_issued", "1990-11-30", period="2 months"),
            "formal_notice_issued rejected: dated 1990-11-30, before the case's first event "
            "(complaint_received of 2026-11-02); accepted: a date on or after it")
    assert c.m.s.stage == "complaint"


def test_an_event_dated_more_than_a_day_ahead_of_the_case_clock_is_refused() -> None:
    c = open_case(COMPLAINT)  # the clock: Mon 5 Jan 2026, 18:00 Paris
    refused(c, {"type": "investigation_opened", "date": "2099-01-01", "kind": "online"},
            "investigation_opened rejected: dated 2099-01-01, more than a day after the "
            "case's clock (2026-01-05); an event is recorded once it has happened")
    refused(c, {"type": "investigation_opened", "date": "2026-01-07", "kind": "online"},
            "investigation_opened rejected: dated 2026-01-07, more than a day after the "
            "case's clock (2026-01-05); an event is recorded once it has happened")
    # The next day is within the bound (time zones, a clock a little behind).
    assert c.m.apply(EVENT_ADAPTER.validate_python(
        {"type": "investigation_opened", "date": "2026-01-06", "kind": "online"}), c.now)


def test_observations_dated_before_the_report_are_refused() -> None:
    # Report notified Tue 6 Jan 2026; observations dated Mon 5 Jan cannot answer it.
    c = open_case(*TO_HEARING[:2])
    refused(c, ev("observations_submitted", "2026-01-05"),
            "observations_submitted rejected: dated 2026-01-05, before the act it answers "
            "(the report observations period runs from 2026-01-06)")


def test_the_recorder_is_kept_with_the_event_in_the_register() -> None:
    c = open_case(COMPLAINT)
    fx = late(c, {"type": "investigation_opened", "date": "2026-01-06", "kind": "online"},
              "2026-01-06",
              by="dev regulator")
    [row] = [r for r in fx.register if r.table == "events"]
    assert (row.data["recorded_by"], row.data["recorded_at"]) == (
        "dev regulator", "2026-01-06T18:00:00+01:00")


# --- recording order never changes the legal outcome --------------------------------------

@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(appeal_day=st.integers(-10, 70), comply_day=st.integers(-10, 70),
       delays=st.tuples(st.integers(0, 40), st.integers(0, 40)), appeal_first=st.booleans())
def test_any_recording_order_of_the_same_dated_acts_gives_the_same_outcome(
        appeal_day: int, comply_day: int, delays: tuple[int, int], appeal_first: bool) -> None:
    """The controller's appeal and its compliance, each on a day counted from the
    notification of Sat 21 Feb 2026 (days before it: dated the notification day itself),
    recorded on that day or up to 40 days later, in either order: the appeal's and the
    injunction's statuses and the days of delay are those of the same acts recorded on the
    days they happened."""
    notified = date(2026, 2, 21)
    acts = [ev("appeal_lodged", (notified + timedelta(days=max(appeal_day, 0))).isoformat()),
            ev("compliance_established",
               (notified + timedelta(days=max(comply_day, 0))).isoformat())]

    def outcome(order: list[tuple[dict[str, Any], int]]) -> tuple[str, str, int]:
        c = open_case(*PENALTY_DECISION)
        for act, delay in order:
            on = date.fromisoformat(act["date"]) + timedelta(days=delay)
            late(c, act, max(on, c.now.date()).isoformat())
        c.run_to(datetime(2026, 7, 1, 9, tzinfo=PARIS))
        pub = c.m.status(c.now)
        return (c.deadline("appeal").status, c.deadline("injunction_compliance").status,
                pub.sanction.penalty_days)

    on_time = sorted(zip(acts, (0, 0), strict=True), key=lambda a: a[0]["date"])
    recorded = list(zip(acts, delays, strict=True))
    if not appeal_first:
        recorded.reverse()
    assert outcome(recorded) == outcome(on_time)


def test_compliance_dated_after_the_due_day_does_not_meet_it_even_before_its_timer() -> None:
    # Recorded at 18:00 on Mon 23 Mar 2026, the due day, while the injunction still runs to
    # 24:00; dated Tue 24 Mar (within the day ahead the engine accepts): one day late.
    c = open_case(*PENALTY_DECISION)
    late(c, ev("compliance_established", "2026-03-24"), "2026-03-23")
    assert c.deadline("injunction_compliance").status == "pending"
    c.run_to(datetime(2026, 3, 25, 9, tzinfo=PARIS))
    assert c.deadline("injunction_compliance").status == "missed"
    # 24 Mar alone: one day at EUR 500.
    assert c.m.status(c.now).sanction.penalty_eur == 500
