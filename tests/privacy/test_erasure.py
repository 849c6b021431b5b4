"""Erasure at the end of retention, on SQLite and PostgreSQL: a closed case's personal data
leaves the register (rows and, on SQLite, the file), its figures stay, other cases are
untouched, and the event chain still verifies and still catches an altered row."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from activities import register as register_module
from activities import register_db as db
from activities.register import (
    ERASED,
    ErasureRefused,
    Register,
    erase_personal,
    event_hash,
)
from activities.register_db import alembic_config, make_engine, metadata, migrate
from enforcement.case.models import (
    EVENT_ADAPTER,
    CaseInput,
    Controller,
    Notification,
    RegisterBatch,
)
from enforcement.families import get_procedure, open_machine
from enforcement.interfaces.cli import app
from enforcement.privacy.redact import PERSONAL_KEYS

PARIS = ZoneInfo("Europe/Paris")
RECEIVER = "https://hooks.example.org"


@dataclass(frozen=True)
class People:
    """The personal data of one case: every value must be gone after its erasure."""

    controller: str
    controller_email: str
    complainant_ref: str
    complainant_email: str
    handler_email: str
    subject: str
    measures: tuple[str, str]
    evidence_ref: str
    suspension_reason: str
    closing_reason: str
    refusal: str

    def values(self) -> list[str]:
        return [self.controller, self.controller_email, self.complainant_ref,
                self.complainant_email, self.handler_email, self.subject, *self.measures,
                self.evidence_ref, self.suspension_reason, self.closing_reason, self.refusal]


# ASCII only: SQLAlchemy stores JSON with \\u escapes, and the file is searched byte-wise.
ALICE = People(
    controller="Clearview AI Inc.", controller_email="legal@clearview.example",
    complainant_ref="PLAINTE-2020-0517-DUPONT", complainant_email="jeanne.dupont@example.org",
    handler_email="agent.martin@cnil.example",
    subject="Photos of Jeanne Dupont scraped into a face search engine",
    measures=("Stop collecting images of Jeanne Dupont",
              "Delete the biometric templates of French residents"),
    evidence_ref="Letter of Hoan Ton-That dated 2022-01-18",
    suspension_reason="Awaiting the Hamburg authority on Matthias Marx",
    closing_reason="Closed; Mme Dupont informed by registered letter",
    refusal="HTTP 422: unknown complainant jeanne.dupont@example.org")
BOB = People(
    controller="Acme Cameras SARL", controller_email="dpo@acme-cameras.example",
    complainant_ref="PLAINTE-2023-0042-LEROY", complainant_email="paul.leroy@example.net",
    handler_email="agent.bernard@cnil.example",
    subject="CCTV of Paul Leroy at his workplace",
    measures=("Stop filming the break room", "Inform Paul Leroy"),
    evidence_ref="unused", suspension_reason="unused", closing_reason="unused",
    refusal="HTTP 422: unknown complainant paul.leroy@example.net")
CLOSED, OPEN = "SAN-2022-019", "MED-2023-007"

# The keys of this case's JSON data that hold personal data (enforcement/privacy/redact.py).
# recorded_by: who entered an event is personal data too (the engine's own "engine" goes
# with it: erasure goes by key).
PERSONAL_IN_DATA = {"subject", "complainant_ref", "measures", "ref", "reason", "controller",
                    "name", "recorded_by"}


def noon(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(12), PARIS)


def clearview_events(p: People) -> list[dict[str, Any]]:
    """CNIL v. Clearview AI (domain.md section 5), with a suspension and an evidence letter
    added, closed with a free-text reason."""
    return [
        {"type": "complaint_received", "date": "2020-05-25", "subject": p.subject,
         "complainant_ref": p.complainant_ref},
        {"type": "investigation_opened", "date": "2020-08-26", "kind": "online"},
        {"type": "formal_notice_issued", "date": "2021-11-26", "period": "2 months",
         "measures": list(p.measures), "id": "MED-2021-134"},
        {"type": "case_suspended", "date": "2021-12-01", "reason": p.suspension_reason},
        {"type": "case_resumed", "date": "2021-12-10"},
        {"type": "compliance_evidence_submitted", "date": "2022-01-20", "ref": p.evidence_ref},
        # the notice expires unanswered: the engine refers the case
        {"type": "rapporteur_designated", "date": "2022-06-02"},
        {"type": "report_notified", "date": "2022-07-14"},
        {"type": "observations_submitted", "date": "2022-08-10"},
        {"type": "hearing_scheduled", "date": "2022-09-15", "hearing_date": "2022-10-13"},
        {"type": "hearing_held", "date": "2022-10-13"},
        {"type": "sanction_decided", "date": "2022-10-17", "fine_eur": 20_000_000,
         "injunction_period": "2 months", "penalty_per_day_eur": 100_000, "publish": True},
        {"type": "decision_notified", "date": "2022-10-20"},
        {"type": "appeal_lodged", "date": "2022-12-01"},
        {"type": "liquidation_opened", "date": "2023-02-09", "cutoff": "2023-02-09"},
        {"type": "penalty_liquidated", "date": "2023-04-13"},
        {"type": "case_closed", "date": "2023-05-02", "reason": p.closing_reason},
    ]


def run_case(case_id: str, p: People, events: list[dict[str, Any]]
             ) -> tuple[list[RegisterBatch], list[Notification]]:
    """What the workflows hand to the register for this case: the case machine's effects."""
    inp = CaseInput(case_id=case_id, subject=p.subject, complainant_ref=p.complainant_ref,
                    complainant_email=p.complainant_email,
                    controller=Controller(name=p.controller, country="US",
                                          email=p.controller_email))
    machine = open_machine(inp, get_procedure("fr-cnil"), noon("2020-05-25"))
    batches: list[RegisterBatch] = []
    notes: list[Notification] = []

    def take() -> None:
        fx = machine.take_effects()
        if fx.register:
            batches.append(RegisterBatch(case_id=case_id, entries=fx.register))
        notes.extend(fx.notifications)

    take()
    for ev in events:
        now = noon(ev["date"])
        machine.advance(now)
        take()
        machine.apply(EVENT_ADAPTER.validate_python(ev), now)
        take()
    return batches, notes


def record_case(register: Register, case_id: str, p: People,
                events: list[dict[str, Any]]) -> None:
    """Record the case as the worker would: register rows, notifications with their e-mail
    delivery, webhook outcomes (one refused with the receiver's answer)."""
    batches, notes = run_case(case_id, p, events)
    for b in batches:
        register.record(b)
    for i, n in enumerate(notes):
        register.notify(n)
        to = n.to or p.handler_email
        if i == 1:  # still being retried when the case is erased
            register.mark_delivery(n.key, "retrying", "email", f"attempt 1: 451 busy for {to}")
        else:
            register.mark_delivery(n.key, "sent", "email", f"to {to}: 250 2.0.0 OK")
    keys = [e.key for b in batches for e in b.entries if e.table == "events"]
    for i, key in enumerate(keys):
        status, detail = ("refused", p.refusal) if i == 0 else ("delivered", "")
        register.record_webhook(case_id, key, RECEIVER, status, detail)


@pytest.fixture
def two_cases(register: Register) -> Register:
    """A closed Clearview-like case and another case still open."""
    record_case(register, CLOSED, ALICE, clearview_events(ALICE))
    record_case(register, OPEN, BOB, [
        {"type": "complaint_received", "date": "2023-03-01", "subject": BOB.subject,
         "complainant_ref": BOB.complainant_ref},
        {"type": "formal_notice_issued", "date": "2023-04-03", "period": "3 months",
         "measures": list(BOB.measures)}])
    return register


def dump(rows: Any) -> str:
    return json.dumps(rows, default=str, ensure_ascii=False)


def masked(value: Any) -> Any:
    """What erasure must leave of JSON data: this test's own statement of the rule."""
    if isinstance(value, dict):
        return {k: ERASED if k in PERSONAL_IN_DATA and v not in (None, "", [], {})
                else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "[erased-email]", value)
    return value


def without(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


def sqlite_bytes(register: Register) -> bytes | None:
    """The SQLite register's file and its write-ahead log, as stored on disk."""
    if register.engine.dialect.name != "sqlite":
        return None
    path = Path(str(register.engine.url.database))
    return b"".join(f.read_bytes() for f in (path, Path(f"{path}-wal")) if f.exists())


# --- erasure --------------------------------------------------------------------------------

def test_erasure_removes_the_personal_data_and_keeps_every_figure(two_cases: Register) -> None:
    register = two_cases
    before = register.case_rows(CLOSED)
    other = register.case_rows(OPEN)
    assert register.verify()[1] is None
    text = dump(before)
    for value in ALICE.values():  # the recorded case does hold them all
        assert value in text, value
    file = sqlite_bytes(register)
    assert file is None or ALICE.complainant_ref.encode() in file

    report = register.erase(CLOSED)

    after = register.case_rows(CLOSED)
    n_events = len(before["events"])
    assert report.counts == {
        "cases": 1, "events": n_events, "deadlines": 0, "decisions": 0,
        "notifications": len(before["notifications"]), "webhook_deliveries": 1}
    assert report.rehashed == 0 and report.previously_erased_at is None

    # nothing personal is left, in the rows...
    text = dump(after)
    for value in ALICE.values():
        assert value not in text, value
    assert "@" not in text
    # ...nor, on SQLite, anywhere in the database file or its log
    file = sqlite_bytes(register)
    if file is not None:
        for value in ALICE.values():
            assert value.encode() not in file, value
        assert BOB.complainant_ref.encode() in file  # the other case is still there
        assert "could not checkpoint" not in report.residue
    else:
        assert "VACUUM" in report.residue

    # every figure stays: keys, dates, amounts, periods, stages, statuses, outcomes
    [case], [case_before] = after["cases"], before["cases"]
    assert without([case], "controller_name", "subject", "outcome") == without(
        [case_before], "controller_name", "subject", "outcome")
    assert (case["controller_name"], case["subject"]) == (ERASED, ERASED)
    assert (case["status"], case["stage"], case["controller_country"]) == (
        "closed", "closed", "US")
    # the closing reason had become the outcome: it is party text and goes with it
    assert case_before["outcome"] == ALICE.closing_reason and case["outcome"] == ERASED

    assert without(after["events"], "data", "data_salt") == without(
        before["events"], "data", "data_salt")  # seq, type, date, key, hashes...
    assert [e["data"] for e in after["events"]] == [masked(e["data"])
                                                   for e in before["events"]]
    assert all(e["data_salt"] is None for e in after["events"])
    fields = {e["type"]: e["data"] for e in after["events"]}
    assert fields["formal_notice_issued"] == {"period": "2 months", "measures": ERASED}
    assert fields["sanction_decided"]["fine_eur"] == 20_000_000
    assert fields["sanction_decided"]["penalty_per_day_eur"] == 100_000
    assert fields["hearing_scheduled"] == {"hearing_date": "2022-10-13"}
    assert fields["liquidation_opened"] == {"cutoff": "2023-02-09"}
    assert fields["appeal_lodged"] == {"court": "Conseil d'État"}
    # The engine recorded the referral itself: who recorded it is erased with the rest.
    assert fields["referred_to_sanction"] == {"reason": ERASED, "recorded_by": ERASED}

    for table in ("deadlines", "deadline_changes", "decisions", "register_keys"):
        assert after[table] == before[table], table
    due = {d["name"]: d["due"] for d in after["deadlines"]}
    # Notice received Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022; suspended from 1 to
    # 10 Dec 2021, 9 days: Fri 4 Feb 2022.
    assert due["formal_notice_compliance"] == "2022-02-04"
    # Decision notified Thu 20 Oct 2022 + 2 months + 2 months for a controller abroad =
    # Mon 20 Feb 2023, and a délai franc (CJA R421-1) ends a day later: Tue 21 Feb 2023;
    # its injunction: 20 Oct 2022 + 2 months = Tue 20 Dec 2022.
    assert due["appeal"] == "2023-02-21"
    assert due["injunction_compliance"] == "2022-12-20"
    # Penalty from 21 Dec 2022 to the cut-off of 9 Feb 2023 inclusive: 11 + 31 + 9 = 51 days
    # x EUR 100,000.
    liquidation = next(d for d in after["decisions"] if d["kind"] == "liquidation")
    assert liquidation["amount_eur"] == 5_100_000

    assert without(after["notifications"], "subject", "detail", "data") == without(
        before["notifications"], "subject", "detail", "data")
    assert {(n["subject"], n["detail"]) for n in after["notifications"]} == {(ERASED, ERASED)}
    assert [n["data"] for n in after["notifications"]] == [
        masked(n["data"]) for n in before["notifications"]]
    notice = next(n for n in after["notifications"] if n["template"] == "formal_notice_issued")
    assert notice["data"]["deadline"]["due"] == "2022-01-26"
    assert notice["data"]["deadline"]["period"] == "2 months"
    assert notice["data"]["controller"] == notice["data"]["measures"] == ERASED

    assert without(after["webhook_deliveries"], "detail") == without(
        before["webhook_deliveries"], "detail")
    assert [w["detail"] for w in after["webhook_deliveries"]] == [
        ERASED if w["detail"] else "" for w in before["webhook_deliveries"]]

    [erasure] = after["erasures"]
    assert erasure["erased_at"] == report.erased_at and erasure["counts"] == report.counts

    # the other case is untouched, and every chain still holds
    assert register.case_rows(OPEN) == other
    checked, altered = register.verify()
    assert altered is None and checked == n_events + len(other["events"])


def test_erasing_twice_changes_nothing_and_a_late_row_is_erased_next_time(
        two_cases: Register) -> None:
    register = two_cases
    first = register.erase(CLOSED)
    rows = register.case_rows(CLOSED)
    again = register.erase(CLOSED)
    assert again.erased == 0 and again.rehashed == 0
    assert again.previously_erased_at == first.erased_at
    assert register.case_rows(CLOSED) == rows  # no second erasure recorded either
    # a delivery that was still being retried reports back after the erasure
    retried = rows["notifications"][1]
    assert retried["status"] == "retrying"
    register.mark_delivery(retried["key"], "sent", "email", f"to {ALICE.complainant_email}: 250")
    late = register.erase(CLOSED)
    assert late.counts["notifications"] == 1 and late.erased == 1
    assert ALICE.complainant_email not in dump(register.case_rows(CLOSED))
    assert len(register.case_rows(CLOSED)["erasures"]) == 2
    assert register.verify()[1] is None


def test_an_open_case_is_refused_and_left_as_it_was(two_cases: Register) -> None:
    register = two_cases
    rows = register.case_rows(OPEN)
    with pytest.raises(ErasureRefused) as refused:
        register.erase(OPEN)
    assert refused.value.reason == "open"
    assert str(refused.value) == (
        f"case {OPEN!r} not erased: it is still open in the register (stage formal_notice); "
        f"only a closed case can be erased, at the end of its retention period")
    assert register.case_rows(OPEN) == rows
    assert register.count("erasures") == 0


def test_an_unknown_case_is_refused(register: Register) -> None:
    with pytest.raises(ErasureRefused) as refused:
        register.erase("NO-SUCH-CASE")
    assert refused.value.reason == "unknown"
    assert "no case 'NO-SUCH-CASE' in the register" in str(refused.value)


# --- tamper evidence after erasure ------------------------------------------------------------

def _row(register: Register, case_id: str, type_: str) -> dict[str, Any]:
    return next(r for r in register.case_rows(case_id)["events"] if r["type"] == type_)


def _tamper(register: Register, row: dict[str, Any], **values: Any) -> None:
    """Change an event row behind the register's back, as someone with write access could."""
    t = db.events
    with register.engine.begin() as conn:
        conn.execute(update(t).where(t.c.id == row["id"]).values(**values))


TAMPERING: dict[str, dict[str, Any]] = {
    "an erased row's date": {"date": "2021-12-26"},
    "an erased row's type": {"type": "compliance_accepted"},
    "an erased row's seq": {"seq": 99},
    "a figure inside an erased row's data": {"data": {"period": "6 months",
                                                      "measures": ERASED}},
    "personal data put back into an erased row": {"data": {"period": "2 months",
                                                           "measures": ["stop"]}},
    "an erased row's data digest": {"data_digest": "0" * 64},
    "an erased row's public digest": {"public_digest": "0" * 64},
    "an erased row's salt restored": {"data_salt": "00" * 16},
}


@pytest.mark.parametrize("change", list(TAMPERING.values()), ids=list(TAMPERING))
def test_verify_still_finds_an_altered_erased_row(two_cases: Register,
                                                  change: dict[str, Any]) -> None:
    register = two_cases
    register.erase(CLOSED)
    row = _row(register, CLOSED, "formal_notice_issued")
    t = db.events
    with register.engine.begin() as conn:
        conn.execute(update(t).where(t.c.id == row["id"]).values(**change))
    altered = register.verify()[1]
    assert altered is not None
    # a changed seq moves the row: the first row out of its place is the next one
    assert altered["key"] == (row["key"] if "seq" not in change else f"{CLOSED}:event:4")
    with register.engine.begin() as conn:  # put it back: the chain holds again
        conn.execute(update(t).where(t.c.id == row["id"]).values(
            **{k: row[k] for k in change}))
    assert register.verify()[1] is None


def test_verify_finds_a_removed_erased_row_and_an_altered_live_one(two_cases: Register,
                                                                  ) -> None:
    register = two_cases
    register.erase(CLOSED)
    t = db.events
    suspended = _row(register, CLOSED, "case_suspended")
    with register.engine.begin() as conn:
        conn.execute(delete(t).where(t.c.id == suspended["id"]))
    altered = register.verify()[1]
    assert altered is not None and altered["type"] == "case_resumed"  # the next row
    with register.engine.begin() as conn:
        conn.execute(t.insert().values(**suspended))
    assert register.verify()[1] is None
    # the open case's rows are checked as before
    complaint = _row(register, OPEN, "complaint_received")
    _tamper(register, complaint, data={**complaint["data"], "complainant_ref": "SOMEONE-ELSE"})
    altered = register.verify()[1]
    assert altered is not None and altered["key"] == complaint["key"]


def test_an_erasure_by_hand_is_not_a_lawful_one(two_cases: Register) -> None:
    """Masking a row of a case whose erasure is not recorded is an alteration."""
    register = two_cases
    row = _row(register, OPEN, "complaint_received")
    _tamper(register, row, data=erase_personal(row["data"]), data_salt=None)
    altered = register.verify()[1]
    assert altered is not None and altered["key"] == row["key"]


def test_an_altered_case_is_not_erased(two_cases: Register) -> None:
    """Erasure would launder the alteration of a personal value: it is refused."""
    register = two_cases
    row = _row(register, CLOSED, "complaint_received")
    _tamper(register, row, data={**row["data"], "complainant_ref": "FORGED"})
    rows = register.case_rows(CLOSED)
    with pytest.raises(ErasureRefused) as refused:
        register.erase(CLOSED)
    assert refused.value.reason == "tampered"
    assert f"event row {row['key']} (seq 1) was altered" in str(refused.value)
    assert register.case_rows(CLOSED) == rows


def test_rows_chained_before_migration_0004_are_re_chained_on_erasure(
        two_cases: Register) -> None:
    """A register written under 0003 hashed the full data: it still verifies, and its
    erasure re-chains the case once, from the verified chain."""
    register = two_cases
    t = db.events
    prev = ""
    with register.engine.begin() as conn:  # rewrite the closed case as 0003 wrote it
        for r in conn.execute(select(t).where(t.c.case_id == CLOSED)
                              .order_by(t.c.seq, t.c.id)).all():
            digest = event_hash(prev, r.key, r.case_id, r.seq, r.type, r.date, r.event_id,
                                r.data)
            conn.execute(update(t).where(t.c.id == r.id).values(
                prev_hash=prev, row_hash=digest, data_salt=None, data_digest=None,
                public_digest=None))
            prev = digest
    assert register.verify()[1] is None
    before = register.case_rows(CLOSED)["events"]

    report = register.erase(CLOSED)

    after = register.case_rows(CLOSED)["events"]
    assert report.rehashed == report.counts["events"] == len(before)
    assert [e["data"] for e in after] == [masked(e["data"]) for e in before]
    hashes = ("data", "prev_hash", "row_hash", "data_digest", "public_digest")
    assert without(after, *hashes) == without(before, *hashes)
    assert ALICE.complainant_ref not in dump(after)
    assert register.verify()[1] is None
    assert register.case_rows(CLOSED)["erasures"][0]["rehashed"] == len(before)
    assert register.erase(CLOSED).erased == 0


def test_a_key_made_personal_later_breaks_nothing_and_is_erased(
        two_cases: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    """enforcement/privacy/redact.py grows: the rows written before still verify, and the erasure
    removes the new key too, re-chaining the case from the first row that holds it."""
    register = two_cases
    monkeypatch.setattr(register_module, "PERSONAL_KEYS", PERSONAL_KEYS | {"court"})
    assert register.verify()[1] is None
    report = register.erase(CLOSED)
    rows = register.case_rows(CLOSED)["events"]
    assert _row(register, CLOSED, "appeal_lodged")["data"] == {"court": ERASED}
    seqs = [r["seq"] for r in rows]
    assert report.rehashed == len(seqs) - seqs.index(_row(register, CLOSED,
                                                          "appeal_lodged")["seq"])
    assert register.verify()[1] is None
    monkeypatch.undo()
    assert register.verify()[1] is None
    assert register.erase(CLOSED).erased == 0


# --- schema and command line ----------------------------------------------------------------

def test_migration_0004_matches_the_schema_and_goes_down_and_up(register_url: str) -> None:
    migrate(register_url)
    command.downgrade(alembic_config(register_url), "0003")
    migrate(register_url)
    engine = make_engine(register_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == "0004"
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_enforce_case_erase(register_url: str) -> None:
    migrate(register_url)
    engine = make_engine(register_url)
    try:
        register = Register(engine)
        record_case(register, CLOSED, ALICE, clearview_events(ALICE))
        record_case(register, OPEN, BOB, [
            {"type": "complaint_received", "date": "2023-03-01", "subject": BOB.subject,
             "complainant_ref": BOB.complainant_ref}])
        runner = CliRunner()
        ok = runner.invoke(app, ["case", "erase", CLOSED, "--database-url", register_url])
        assert ok.exit_code == 0, ok.output
        assert f"erased the personal data of case {CLOSED}" in ok.stdout
        events = register.count("events", CLOSED)
        assert re.search(rf"^  events +{events}$", ok.stdout, re.M)
        assert re.search(r"^  cases +1$", ok.stdout, re.M)
        assert ALICE.controller not in dump(register.case_rows(CLOSED))

        again = runner.invoke(app, ["case", "erase", CLOSED, "--database-url", register_url,
                                    "--json"])
        assert again.exit_code == 0
        report = json.loads(again.stdout)
        assert report["case_id"] == CLOSED and sum(report["counts"].values()) == 0
        assert report["previously_erased_at"] is not None

        for case_id, message in ((OPEN, "still open in the register (stage complaint)"),
                                 ("NO-SUCH-CASE", "no case 'NO-SUCH-CASE' in the register")):
            refused = runner.invoke(app, ["case", "erase", case_id,
                                          "--database-url", register_url])
            assert refused.exit_code == 2
            assert refused.stdout == ""
            [line] = refused.stderr.splitlines()
            assert line.startswith("error: ") and message in line
        assert BOB.complainant_ref in dump(register.case_rows(OPEN))

        verified = runner.invoke(app, ["register", "verify", "--database-url", register_url])
        assert verified.exit_code == 0
    finally:
        engine.dispose()
