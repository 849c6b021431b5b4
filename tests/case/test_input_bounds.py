"""Bounds on what users may type (issue: hostile input, points 3 and 4): amounts
far above any real one but storable in the register once multiplied out, case ids that
can be addressed (refused alike by the models the API, the CLI and scenario files share),
and event ids: a repeat must be the same event, another one under a used id is refused."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from enforcement.case.machine import EventRejected, Machine
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.families import get_procedure, open_machine

ENFORCE = Path(sys.executable).parent / "enforce"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_a_turnover_beyond_any_undertakings_is_refused() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 10000000000000"):
        Controller(name="A", country="FR", annual_turnover_eur=10**25)
    assert Controller(name="A", country="FR", annual_turnover_eur=10**13)


@pytest.mark.parametrize(("fields", "bound"), [
    ({"fine_eur": 10**25}, "1000000000000"),
    ({"fine_eur": 1000, "injunction_period": "1 month", "penalty_per_day_eur": 10**10},
     "1000000000"),
])
def test_a_sanction_beyond_storable_amounts_is_refused(fields: dict[str, int],
                                                       bound: str) -> None:
    with pytest.raises(ValidationError, match=f"less than or equal to {bound}"):
        EVENT_ADAPTER.validate_python({"type": "sanction_decided", "date": "2026-01-05",
                                       **fields})


def test_the_largest_fine_the_largest_turnover_allows_is_within_the_bounds() -> None:
    # GDPR 83(5): 4% of a turnover of 10^13 is 4 * 10^11, under the bound of 10^12; the
    # largest daily penalty, 10^9, over a century of 36,525 days is 3.6525 * 10^13, far
    # under the register's 64-bit integers (about 9.2 * 10^18).
    proc = get_procedure("fr-cnil")
    m = open_machine(CaseInput(case_id="B-1", controller=Controller(
        name="A", country="FR", annual_turnover_eur=10**13)), proc, NOW)
    for e in ({"type": "rapporteur_designated", "date": "2026-01-05"},
              {"type": "report_notified", "date": "2026-01-05"},
              {"type": "hearing_scheduled", "date": "2026-01-05", "hearing_date": "2026-02-10"},
              {"type": "hearing_held", "date": "2026-02-10"}):
        m.apply(EVENT_ADAPTER.validate_python(e), datetime(2026, 2, 10, 12, tzinfo=UTC))
    m.apply(EVENT_ADAPTER.validate_python({"type": "sanction_decided", "date": "2026-02-10",
                                           "fine_eur": 4 * 10**11}),
            datetime(2026, 2, 10, 12, tzinfo=UTC))
    assert m.s.sanction.fine_eur == 400_000_000_000
    assert 10**9 * 36_525 == 36_525_000_000_000 < 2**63


@pytest.mark.parametrize("case_id", [".", "..", "...", ":", "-", "_:."])
def test_a_case_id_without_a_letter_or_digit_is_refused(case_id: str) -> None:
    with pytest.raises(ValidationError, match="a case id needs a letter or a digit"):
        CaseInput(case_id=case_id, controller=Controller(name="A", country="FR"))
    assert CaseInput(case_id=f"A{case_id}", controller=Controller(name="A", country="FR"))


def test_the_cli_refuses_them_in_one_line_before_reaching_any_engine() -> None:
    for args, field in ((["--case-id", "..", "--controller", "A", "--country", "FR"],
                         "case_id"),
                        (["--case-id", "B-1", "--controller", "A", "--country", "FR",
                          "--turnover", str(10**25)], "annual_turnover_eur")):
        done = subprocess.run([str(ENFORCE), "case", "open", *args], capture_output=True,
                              text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin",
                                   "TEMPORAL_ADDRESS": "127.0.0.1:1"})
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and field in lines[0], lines


# --- event ids: a repeat is the same event, never another one dropped ---------------------

def _case() -> Machine:
    m = open_machine(CaseInput(case_id="I-1", controller=Controller(name="A", country="FR")),
                     get_procedure("fr-cnil"), NOW)
    for e in ({"type": "complaint_received", "date": "2026-01-05", "subject": "s",
               "complainant_ref": "c"},
              {"type": "formal_notice_issued", "date": "2026-01-05", "period": "2 months"}):
        m.apply(EVENT_ADAPTER.validate_python(e), NOW)
    return m


def test_the_same_event_sent_again_is_a_harmless_repeat() -> None:
    m = _case()
    ev = {"type": "compliance_evidence_submitted", "date": "2026-01-05", "ref": "letter",
          "id": "ev-1"}
    assert m.apply(EVENT_ADAPTER.validate_python(ev), NOW)
    m.take_effects()
    before = m.s.model_dump()
    assert not m.apply(EVENT_ADAPTER.validate_python(ev), NOW)
    assert m.s.model_dump() == before and not m.take_effects()


@pytest.mark.parametrize("second", [
    # the squatted id: the controller's evidence took the id the regulator meant to use
    {"type": "compliance_accepted", "date": "2026-01-05", "id": "reg-accept-X"},
    {"type": "compliance_evidence_submitted", "date": "2026-01-06", "ref": "letter",
     "id": "reg-accept-X"},
    {"type": "compliance_evidence_submitted", "date": "2026-01-05", "ref": "other",
     "id": "reg-accept-X"},
])
def test_another_event_under_a_used_id_is_refused_naming_the_first_use(
        second: dict[str, str]) -> None:
    m = _case()
    m.apply(EVENT_ADAPTER.validate_python({
        "type": "compliance_evidence_submitted", "date": "2026-01-05", "ref": "letter",
        "id": "reg-accept-X"}), NOW)
    m.take_effects()
    before = m.s.model_dump()
    with pytest.raises(EventRejected, match=(
            r"the id 'reg-accept-X' was already used by event 3 \(compliance_evidence_submitted"
            r" of 2026-01-05\); an event may be sent again only unchanged, a different one "
            r"needs an id of its own")):
        m.apply(EVENT_ADAPTER.validate_python(second), NOW)
    assert m.s.model_dump() == before and not m.take_effects()


# --- sizes: what the workflow history and a reader can hold ---------------------------------

def test_a_measure_longer_than_a_page_is_refused() -> None:
    notice = {"type": "formal_notice_issued", "date": "2026-01-05", "period": "2 months"}
    assert EVENT_ADAPTER.validate_python({**notice, "measures": ["x" * 1000] * 50})
    with pytest.raises(ValidationError, match="at most 1000 characters"):
        EVENT_ADAPTER.validate_python({**notice, "measures": ["x" * 1_500_000]})
    with pytest.raises(ValidationError, match="at most 50 items"):
        EVENT_ADAPTER.validate_python({**notice, "measures": ["x"] * 51})


def test_a_case_is_opened_with_at_most_100_events() -> None:
    complaint = {"type": "complaint_received", "date": "2026-01-05", "subject": "s",
                 "complainant_ref": "c"}
    ctrl = Controller(name="A", country="FR")
    assert CaseInput(case_id="O-1", controller=ctrl, events=[complaint] * 100)
    with pytest.raises(ValidationError, match=r"at most 100 events \(101 given\)"):
        CaseInput(case_id="O-1", controller=ctrl, events=[complaint] * 101)


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31mred", "bell\x07", "del\x7f"])
def test_a_control_character_in_any_text_is_refused_naming_it(text: str) -> None:
    # PostgreSQL cannot store a NUL: the register refused the case's writes.
    code = f"U+{ord(next(c for c in text if ord(c) < 32 or ord(c) == 127)):04X}"
    notice = {"type": "formal_notice_issued", "date": "2026-01-05", "period": "2 months"}
    for build in (lambda: Controller(name=text, country="FR"),
                  lambda: EVENT_ADAPTER.validate_python({**notice, "measures": [text]}),
                  lambda: EVENT_ADAPTER.validate_python({**notice, "id": text}),
                  lambda: CaseInput(case_id="T-1", subject=text,
                                    controller=Controller(name="A", country="FR")),
                  lambda: Controller(name="A", country="FR", email=f"dpo{text}@a.fr")):
        with pytest.raises(ValidationError, match=f"{re.escape(code)}|should match pattern"):
            build()


def test_tabs_and_line_breaks_are_text() -> None:
    measures = ["stop collecting\nand delete", "a\tb\r\nc"]
    ev = EVENT_ADAPTER.validate_python({"type": "formal_notice_issued", "date": "2026-01-05",
                                        "period": "2 months", "measures": measures})
    assert ev.measures == measures  # type: ignore[union-attr]
