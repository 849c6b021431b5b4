"""Every rejection path of the case machine: the message names what was wrong and what is
accepted, and the case is left exactly as it was (state and pending effects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enforcement.case.machine import EventRejected, Machine
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.families import get_procedure, open_machine

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def on(event: dict[str, Any]) -> datetime:
    """The case's clock when an event is recorded: 18:00 UTC on its date, or NOW if later
    (an event is recorded once it has happened)."""
    return max(NOW, datetime.fromisoformat(event["date"]).replace(hour=18, tzinfo=UTC))


def machine(*events: dict[str, Any], turnover: int | None = None,
            country: str = "FR") -> Machine:
    m = open_machine(CaseInput(case_id="T-1", controller=Controller(
        name="Acme", country=country, annual_turnover_eur=turnover)),
        get_procedure("fr-cnil"), NOW)
    for e in events:
        m.apply(EVENT_ADAPTER.validate_python(e), on(e))
    m.take_effects()
    return m


COMPLAINT = {"type": "complaint_received", "date": "2026-01-05", "subject": "s",
             "complainant_ref": "c"}
NOTICE = {"type": "formal_notice_issued", "date": "2026-01-06", "period": "2 months"}
SANCTION: list[dict[str, Any]] = [{"type": "rapporteur_designated", "date": "2026-01-05"},
            {"type": "report_notified", "date": "2026-01-06"},
            {"type": "hearing_scheduled", "date": "2026-01-07", "hearing_date": "2026-02-10"},
            {"type": "hearing_held", "date": "2026-02-10"}]
NOTIFIED = {"type": "decision_notified", "date": "2026-02-21"}
DECIDED: list[dict[str, Any]] = [
    *SANCTION, {"type": "sanction_decided", "date": "2026-02-20", "fine_eur": 1000}, NOTIFIED]
WITH_PENALTY: list[dict[str, Any]] = [
    *SANCTION, {"type": "sanction_decided", "date": "2026-02-20", "fine_eur": 1000,
                "injunction_period": "1 month", "penalty_per_day_eur": 500}, NOTIFIED]


@pytest.mark.parametrize(("history", "event", "message"), [
    ([COMPLAINT], {"type": "hearing_held", "date": "2026-01-07"},
     "does not fit the case at stage 'complaint'; accepted now: investigation_opened"),
    ([COMPLAINT], {"type": "formal_notice_issued", "date": "2026-01-06", "period": "9 days"},
     "under the minimum of 10 days"),
    ([COMPLAINT, {"type": "investigation_opened", "date": "2026-01-06", "kind": "online"}],
     {"type": "information_provided", "date": "2026-01-06"},
     "no information request is pending"),
    ([COMPLAINT], {"type": "case_resumed", "date": "2026-01-06"}, "not suspended"),
    ([COMPLAINT, {"type": "case_suspended", "date": "2026-01-06"}],
     {"type": "case_suspended", "date": "2026-01-07"}, "already suspended since 2026-01-06"),
    ([COMPLAINT, {"type": "case_suspended", "date": "2026-01-06"}],
     {"type": "case_resumed", "date": "2026-01-05"}, "before the suspension"),
    ([COMPLAINT, NOTICE], {"type": "extension_granted", "date": "2026-01-07",
                           "deadline": "appeal", "period": "1 month"},
     "no pending deadline named 'appeal'; pending: formal_notice_compliance"),
    ([COMPLAINT, NOTICE, {"type": "extension_granted", "date": "2026-01-07",
                          "deadline": "formal_notice_compliance", "period": "1 month"}],
     {"type": "extension_granted", "date": "2026-01-08",
      "deadline": "formal_notice_compliance", "period": "1 month"}, "already was"),
    ([COMPLAINT, NOTICE], {"type": "extension_granted", "date": "2026-01-07",
                           "deadline": "formal_notice_compliance", "until": "2026-02-01"},
     "must move the deadline later"),
    ([*SANCTION[:2], {"type": "hearing_scheduled", "date": "2026-01-07",
                      "hearing_date": "2026-02-10"}],
     {"type": "hearing_scheduled", "date": "2026-02-01", "hearing_date": "2026-02-10"},
     "earliest date is 2026-02-16"),
    (SANCTION, {"type": "sanction_decided", "date": "2026-02-20", "fine_eur": 20_000_001},
     "above the cap of 20,000,000"),
    (SANCTION, {"type": "sanction_decided", "date": "2026-02-20", "fine_eur": 10_000_001,
                "lower_tier": True}, "above the cap of 10,000,000"),
    (SANCTION, {"type": "sanction_decided", "date": "2026-02-20", "fine_eur": 1,
                "injunction_period": "1 month", "penalty_per_day_eur": 100_001},
     "above the cap of 100,000 per day"),
    (DECIDED, {"type": "compliance_established", "date": "2026-03-01"}, "no injunction"),
    (DECIDED, {"type": "liquidation_opened", "date": "2026-05-01", "cutoff": "2026-05-01"},
     "no daily penalty"),
    (WITH_PENALTY, {"type": "liquidation_opened", "date": "2026-03-10",
                    "cutoff": "2026-03-10"}, "must be after the injunction deadline 2026-03-23"),
    ([COMPLAINT, {"type": "no_breach_found", "date": "2026-01-06"}],
     {"type": "case_closed", "date": "2026-01-07"}, "the case is closed (dismissed)"),
])
def test_rejection_names_the_reason_and_changes_nothing(
        history: list[dict[str, Any]], event: dict[str, Any], message: str) -> None:
    m = machine(*history)
    before = m.s.model_dump()
    with pytest.raises(EventRejected, match=message.replace("(", r"\(").replace(")", r"\)")):
        m.apply(EVENT_ADAPTER.validate_python(event), on(event))
    assert m.s.model_dump() == before
    assert not m.take_effects()


def test_a_big_controller_has_a_turnover_based_cap() -> None:
    m = machine(*SANCTION, turnover=2_000_000_000)  # 4% of EUR 2bn = EUR 80M
    m.apply(EVENT_ADAPTER.validate_python({"type": "sanction_decided", "date": "2026-02-20",
                                           "fine_eur": 80_000_000}),
            on({"date": "2026-02-20"}))
    assert m.s.sanction.fine_eur == 80_000_000


def test_duplicate_event_id_is_applied_once() -> None:
    m = machine(COMPLAINT)
    notice = EVENT_ADAPTER.validate_python({**NOTICE, "id": "MED-1"})
    assert m.apply(notice, NOW) is True
    count = len(m.s.deadlines)
    assert m.apply(notice, NOW) is False
    assert len(m.s.deadlines) == count


def test_appeal_period_of_a_controller_abroad() -> None:
    home = machine(*DECIDED)
    abroad = machine(*DECIDED, country="US")
    appeal = {d.name: d for d in home.s.deadlines}["appeal"]
    appeal_abroad = {d.name: d for d in abroad.s.deadlines}["appeal"]
    # Notified Sat 21 Feb 2026; a délai franc (CJA R421-1): the same-numbered day does not
    # count either. Home: Tue 21 Apr -> Wed 22 Apr. Abroad, 2 + 2 months (R421-7 para 3):
    # Sun 21 Jun -> Mon 22 Jun, a working day. Overseas (Réunion), 2 + 1 month (R421-7
    # para 1): Thu 21 May -> Fri 22 May.
    assert appeal.period == "2 months" and appeal.due == "2026-04-22"
    assert appeal_abroad.period == "4 months" and appeal_abroad.due == "2026-06-22"
    overseas = {d.name: d for d in machine(*DECIDED, country="RE").s.deadlines}["appeal"]
    assert overseas.period == "3 months" and overseas.due == "2026-05-22"
    assert overseas.explanation[0] == (
        "The controller lives in a French overseas territory (RE): the appeal period of "
        "2 months is extended by 1 month (CJA R421-7 para 1).")


def test_penalty_from_the_day_after_the_deadline_to_compliance() -> None:
    m = machine(*WITH_PENALTY)
    # Injunction: 21 Feb 2026 + 1 month = Sat 21 Mar -> Mon 23 Mar. Compliance 2 Apr:
    # 24 Mar .. 2 Apr inclusive = 10 days at EUR 500.
    m.apply(EVENT_ADAPTER.validate_python({"type": "compliance_established",
                                           "date": "2026-04-02"}),
            on({"date": "2026-04-02"}))
    status = m.status(datetime(2026, 6, 1, tzinfo=UTC))
    assert (status.sanction.penalty_days, status.sanction.penalty_eur) == (10, 5000)


def test_a_formal_notice_in_hours_expires_into_a_referral() -> None:
    # Urgency procedure: 72 hours from Fri 5 Jan 2024 14:00 Paris -> Mon 8 Jan 14:00, never
    # rolled; at expiry the referral is provisional.
    m = open_machine(CaseInput(case_id="U-1", procedure="fr-cnil-urgency",
                               controller=Controller(name="Acme", country="FR")),
                     get_procedure("fr-cnil-urgency"), NOW)
    m.apply(EVENT_ADAPTER.validate_python({
        "type": "formal_notice_issued", "date": "2024-01-05T14:00:00+01:00",
        "period": "72 hours"}), NOW)
    [notice] = m.s.deadlines
    assert notice.due == "2024-01-08T14:00:00+01:00"
    m.advance(notice.expires_at)
    # The urgency procedure's referral waits 1 working day (office practice): it is
    # provisional until 24:00 on Tue 9 Jan, then final, dated Wed 10 Jan (its 00:00).
    assert (notice.status, m.s.stage) == ("missed", "formal_notice")
    grace_end = datetime(2024, 1, 10, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert m.next_wake() == grace_end
    m.advance(grace_end - timedelta(seconds=1))
    assert m.s.stage == "formal_notice"
    m.advance(grace_end)
    assert m.s.stage == "referred"
    referral = [t for t in m.s.timeline if t.name == "referred_to_sanction"]
    assert referral[0].date == "2024-01-10"
    assert "not complied with by 2024-01-08T14:00:00+01:00 and 1 working day of grace" \
        in referral[0].detail


# --- opening events dated in the past: judged in date order ---------------------------------

def opened(*events: dict[str, Any]) -> Machine:
    """A case opened today with back-dated events, as the workflow opens it."""
    m = open_machine(CaseInput(case_id="T-2", controller=Controller(name="Acme", country="FR")),
                     get_procedure("fr-cnil"), NOW)
    for e in events:
        m.apply_opening(EVENT_ADAPTER.validate_python(e), NOW)
    return m


def statuses(m: Machine) -> dict[str, str]:
    return {r.name: r.status for r in m.s.deadlines}


def test_a_deadline_run_out_before_a_later_opening_event_is_missed_not_met() -> None:
    # The complainant's 3 months from 2025-01-06 ran out on 2025-04-07 (6 April is a
    # Sunday); the formal notice came on 2025-05-05: too late to inform the complainant.
    m = opened({**COMPLAINT, "date": "2025-01-06"}, {**NOTICE, "date": "2025-05-05"})
    [progress] = [r for r in m.s.deadlines if r.name == "complainant_progress"]
    assert (progress.due, progress.status) == ("2025-04-07", "missed")
    assert m.s.stage == "formal_notice"
    # and in time, it is met
    m = opened({**COMPLAINT, "date": "2025-01-06"}, {**NOTICE, "date": "2025-04-07"})
    assert statuses(m)["complainant_progress"] == "met"


def test_an_opening_event_after_the_notice_expired_meets_the_referral() -> None:
    # Notice of 2025-03-03 for 2 months: due 2025-05-05; unanswered, the case was referred
    # after 5 working days of grace (to Tue 13 May: Thu 8 May is a holiday), so a
    # compliance dated 2025-06-02 finds it at the sanction stage, too late to undo it.
    with pytest.raises(EventRejected, match="compliance dated 2025-06-02 is not in time"):
        opened({**COMPLAINT, "date": "2025-01-06"}, {**NOTICE, "date": "2025-03-03"},
               {"type": "compliance_accepted", "date": "2025-06-02"})
    m = opened({**COMPLAINT, "date": "2025-01-06"}, {**NOTICE, "date": "2025-03-03"},
               {"type": "compliance_accepted", "date": "2025-05-05"})
    assert (m.s.stage, m.s.outcome) == ("closed", "complied")
    assert statuses(m)["formal_notice_compliance"] == "met"
    # no reminder of a deadline long past is sent to anyone
    assert not [n for n in m.fx.notifications if n.template == "reminder"]
