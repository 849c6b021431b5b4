"""The outcome register on SQLite and PostgreSQL: each row recorded once, whatever retries."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, update
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError

from activities import register as register_module
from activities import register_db as db
from activities.register import Register
from activities.register_db import TABLES, make_engine, metadata, migrate
from enforcement.case.models import Notification, RegisterBatch, RegisterEntry

CASE = "CNIL-2021-CLEARVIEW"
PARIS = timezone(timedelta(hours=2))
T0 = datetime(2021, 11, 26, 10, 0, tzinfo=PARIS)


def entry(step: str, table: str, data: dict[str, Any], at: datetime = T0,
          case_id: str = CASE) -> RegisterEntry:
    return RegisterEntry.model_validate(
        {"key": f"{case_id}:{step}", "table": table, "case_id": case_id, "at": at,
         "data": data})


def batch(*entries: RegisterEntry, case_id: str = CASE) -> RegisterBatch:
    return RegisterBatch(case_id=case_id, entries=list(entries))


OPENED = entry("opened", "cases", {
    "procedure": "fr-cnil", "controller_name": "Clearview AI", "controller_country": "US",
    "subject": "facial recognition database", "stage": "formal_notice", "status": "open"})
EVENT_1 = entry("event-1", "events", {
    "seq": 1, "type": "complaint_received", "date": "2020-05-25", "event_id": "c-1",
    "fields": {"complainant_ref": "P-001"}})
EVENT_2 = entry("event-2", "events", {
    "seq": 2, "type": "formal_notice_issued", "date": "2021-11-26",
    "fields": {"period": "2 months"}})
NOTICE = {"seq": 0, "name": "formal_notice", "trigger_date": "2021-11-26",
          "period": "2 months", "due": "2022-01-26", "expires_at": "2022-01-27T00:00:00+01:00",
          "explanation": ["2 months from 2021-11-26", "due 2022-01-26"]}
DEADLINE = entry("deadline-0-pending", "deadlines", {**NOTICE, "status": "pending"})
DECISION = entry("decision", "decisions", {
    "kind": "sanction", "fine_eur": 20_000_000, "penalty_per_day_eur": 100_000,
    "injunction_due": "2022-12-20", "publish": True, "lower_tier": False},
    at=datetime(2022, 10, 20, 9, 0, tzinfo=UTC))
MESSAGE = entry("notice-mail", "notifications", {
    "party": "controller", "template": "formal_notice", "subject": "Mise en demeure",
    "data": {"due": "2022-01-26"}})
FULL = batch(OPENED, EVENT_1, EVENT_2, DEADLINE, DECISION, MESSAGE)
ENTRY_TABLES = ("cases", "events", "deadlines", "deadline_changes", "decisions",
                "notifications", "register_keys")


def counts(register: Register) -> dict[str, int]:
    return {t: register.count(t) for t in ENTRY_TABLES}


# --- schema ---------------------------------------------------------------------------------

def test_migrate_creates_the_register_and_is_idempotent(register_url: str) -> None:
    migrate(register_url)
    migrate(register_url)  # at head: nothing to do, nothing fails
    engine = make_engine(register_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {*TABLES, "alembic_version"}
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == "0004"
            # The hand-written migrations create exactly what the code expects.
            assert compare_metadata(ctx, metadata) == []
            assert Register(engine).count("cases") == 0
    finally:
        engine.dispose()


def test_sqlite_register_is_a_wal_file_in_a_created_folder(tmp_path: Any) -> None:
    path = tmp_path / "var" / "deep" / "register.db"
    migrate(f"sqlite:///{path}")
    assert path.exists()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0
    engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/postgres")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


# --- recording ------------------------------------------------------------------------------

def test_a_batch_writes_each_row(register: Register) -> None:
    assert register.record(FULL) == 6
    assert counts(register) == {"cases": 1, "events": 2, "deadlines": 1, "deadline_changes": 1,
                                "decisions": 1, "notifications": 1, "register_keys": 6}
    rows = register.case_rows(CASE)

    [case] = rows["cases"]
    assert case["procedure"] == "fr-cnil"
    assert (case["controller_name"], case["controller_country"]) == ("Clearview AI", "US")
    assert (case["stage"], case["status"], case["outcome"]) == ("formal_notice", "open", None)
    assert case["opened_at"] == T0 and case["opened_at"].tzinfo is not None
    assert case["closed_at"] is None

    assert [(e["seq"], e["type"], e["date"], e["event_id"]) for e in rows["events"]] == [
        (1, "complaint_received", "2020-05-25", "c-1"),
        (2, "formal_notice_issued", "2021-11-26", None)]
    assert rows["events"][0]["data"] == {"complainant_ref": "P-001"}
    assert rows["events"][0]["key"] == f"{CASE}:event-1"

    [deadline] = rows["deadlines"]
    assert (deadline["name"], deadline["due"], deadline["status"]) == (
        "formal_notice", "2022-01-26", "pending")
    assert deadline["expires_at"] == "2022-01-27T00:00:00+01:00"
    assert deadline["explanation"] == NOTICE["explanation"]

    [decision] = rows["decisions"]
    assert (decision["kind"], decision["fine_eur"], decision["penalty_per_day_eur"]) == (
        "sanction", 20_000_000, 100_000)
    assert (decision["amount_eur"], decision["injunction_due"], decision["publish"]) == (
        None, "2022-12-20", True)
    assert decision["data"]["lower_tier"] is False
    assert decision["decided_at"] == datetime(2022, 10, 20, 9, 0, tzinfo=UTC)

    [mail] = rows["notifications"]
    assert (mail["party"], mail["template"], mail["subject"]) == (
        "controller", "formal_notice", "Mise en demeure")
    assert (mail["channel"], mail["status"], mail["detail"]) == ("register", "recorded", "")
    assert mail["data"] == {"due": "2022-01-26"}

    assert sorted(k["key"] for k in rows["register_keys"]) == sorted(e.key for e in FULL.entries)
    assert {k["table_name"] for k in rows["register_keys"]} == {
        "cases", "events", "deadlines", "decisions", "notifications"}


def test_replaying_a_batch_records_nothing_new(register: Register) -> None:
    assert register.record(FULL) == 6
    before = counts(register)
    rows = register.case_rows(CASE)
    assert register.record(FULL) == 0
    assert register.record(FULL) == 0
    assert counts(register) == before
    assert register.case_rows(CASE) == rows


def test_a_partially_overlapping_batch_writes_only_the_new_entries(register: Register) -> None:
    assert register.record(batch(OPENED, EVENT_1, DEADLINE)) == 3
    assert register.record(batch(EVENT_1, EVENT_2, DEADLINE, DECISION)) == 2
    assert counts(register) == {"cases": 1, "events": 2, "deadlines": 1, "deadline_changes": 1,
                                "decisions": 1, "notifications": 0, "register_keys": 5}
    assert [e["seq"] for e in register.case_rows(CASE)["events"]] == [1, 2]


def test_a_key_repeated_within_a_batch_is_recorded_once(register: Register) -> None:
    assert register.record(batch(EVENT_1, EVENT_1)) == 1
    assert register.count("events") == 1


def test_concurrent_attempts_of_one_batch_record_each_row_once(register: Register) -> None:
    attempts = 8
    start = threading.Barrier(attempts)

    def attempt() -> int:
        start.wait()
        return register.record(FULL)

    with ThreadPoolExecutor(attempts) as pool:
        results = list(pool.map(lambda _: attempt(), range(attempts)))
    assert sorted(results) == [0] * (attempts - 1) + [6]
    assert counts(register) == {"cases": 1, "events": 2, "deadlines": 1, "deadline_changes": 1,
                                "decisions": 1, "notifications": 1, "register_keys": 6}


def test_concurrent_overlapping_batches_never_record_twice(register: Register) -> None:
    events = [entry(f"event-{i}", "events", {"seq": i, "type": "information_provided",
                                             "date": "2022-01-10"}) for i in range(30)]
    stages = [entry(f"stage-{i}", "cases", {"stage": f"stage-{i}"}) for i in range(10)]
    states = [entry(f"deadline-{i}-{status}", "deadlines",
                    {**NOTICE, "seq": i, "name": f"deadline-{i}", "status": status})
              for i in range(5) for status in ("pending", "extended", "met")]
    pool_of_entries = events + stages + states
    rng = random.Random(7)
    # the same rows in many orders: no attempt may deadlock or record a key twice
    batches = [batch(*rng.sample(pool_of_entries, 20)) for _ in range(12)]
    start = threading.Barrier(len(batches))

    def attempt(b: RegisterBatch) -> int:
        start.wait()
        return register.record(b)

    with ThreadPoolExecutor(len(batches)) as pool:
        applied = sum(pool.map(attempt, batches))
    distinct = {e.key for b in batches for e in b.entries}
    assert applied == len(distinct) == register.count("register_keys")
    assert register.count("events") == len({k for k in distinct if ":event-" in k})
    assert register.count("cases") == 1
    seqs = {k.split(":deadline-")[1].split("-")[0] for k in distinct if ":deadline-" in k}
    assert register.count("deadlines") == len(seqs)
    assert register.count("deadline_changes") == len({k for k in distinct if ":deadline-" in k})


def test_concurrent_batches_updating_the_same_rows_in_any_order_all_succeed(
        register: Register) -> None:
    """Different keys, same case row and deadline rows, entries in shuffled orders: on
    PostgreSQL this deadlocked until writes took the rows in one order."""
    rng = random.Random(11)
    threads = 12
    for round_ in range(8):
        batches = []
        for i in range(threads):
            entries = [entry(f"{round_}-stage-{i}", "cases", {"stage": f"stage-{i}"})] + [
                entry(f"{round_}-deadline-{seq}-{i}", "deadlines",
                      {"seq": seq, "name": f"deadline-{seq}", "status": "pending"})
                for seq in range(3)]
            rng.shuffle(entries)
            batches.append(batch(*entries))
        start = threading.Barrier(threads)

        def attempt(b: RegisterBatch, start: threading.Barrier = start) -> int:
            start.wait()
            return register.record(b)

        with ThreadPoolExecutor(threads) as pool:
            assert list(pool.map(attempt, batches)) == [4] * threads
    assert (register.count("cases"), register.count("deadlines")) == (1, 3)
    assert register.count("deadline_changes") == 8 * threads * 3


def test_a_case_opened_then_closed_is_one_closed_row(register: Register) -> None:
    register.record(batch(OPENED))
    closed_at = T0 + timedelta(days=400)
    register.record(batch(entry("closed", "cases", {
        "stage": "closed", "status": "closed", "outcome": "sanction"}, at=closed_at)))
    [case] = register.case_rows(CASE)["cases"]
    assert (case["status"], case["stage"], case["outcome"]) == ("closed", "closed", "sanction")
    assert case["opened_at"] == T0
    assert case["closed_at"] == closed_at
    assert case["updated_at"] == closed_at
    # fields absent from the closing entry are kept
    assert (case["procedure"], case["controller_name"]) == ("fr-cnil", "Clearview AI")
    # a later update that repeats the status keeps the closing time
    register.record(batch(entry("archived", "cases", {"status": "closed", "outcome": "paid"},
                                at=closed_at + timedelta(days=30))))
    [case] = register.case_rows(CASE)["cases"]
    assert (case["closed_at"], case["outcome"]) == (closed_at, "paid")


def test_deadline_status_changes_keep_one_current_row_and_every_change(
        register: Register) -> None:
    register.record(batch(DEADLINE))
    extended = {**NOTICE, "status": "extended", "due": "2022-03-26"}
    register.record(batch(entry("deadline-0-extended", "deadlines", extended,
                                at=T0 + timedelta(days=30))))
    register.record(batch(entry("deadline-0-met", "deadlines", {**extended, "status": "met"},
                                at=T0 + timedelta(days=90))))
    register.record(batch(entry("deadline-0-met", "deadlines", {**extended, "status": "met"},
                                at=T0 + timedelta(days=90))))  # a retry
    rows = register.case_rows(CASE)
    [current] = rows["deadlines"]
    assert (current["status"], current["due"]) == ("met", "2022-03-26")
    assert current["updated_at"] == T0 + timedelta(days=90)
    assert [(c["status"], c["due"]) for c in rows["deadline_changes"]] == [
        ("pending", "2022-01-26"), ("extended", "2022-03-26"), ("met", "2022-03-26")]
    assert [c["key"] for c in rows["deadline_changes"]] == [
        f"{CASE}:deadline-0-pending", f"{CASE}:deadline-0-extended", f"{CASE}:deadline-0-met"]


def test_notify_records_each_notification_once(register: Register) -> None:
    n = Notification(key=f"{CASE}:formal-notice-mail", case_id=CASE, party="controller",
                     template="formal_notice", subject="Mise en demeure",
                     data={"due": "2022-01-26"}, at=T0)
    assert register.notify(n) is True
    assert register.notify(n) is False
    other = n.model_copy(update={"key": f"{CASE}:decision-mail", "party": "complainant"})
    assert register.notify(other) is True
    rows = register.case_rows(CASE)["notifications"]
    assert [(r["key"], r["party"], r["channel"], r["status"]) for r in rows] == [
        (n.key, "controller", "register", "recorded"),
        (other.key, "complainant", "register", "recorded")]
    assert rows[0]["data"] == {"due": "2022-01-26"}
    assert rows[0]["at"] == T0


# --- failures -------------------------------------------------------------------------------

MALFORMED: dict[str, RegisterEntry] = {
    "unknown case field": entry("bad", "cases", {"stage": "x", "colour": "red"}),
    "event without seq": entry("bad", "events", {"type": "hearing_held", "date": "2022-01-01"}),
    "unknown deadline status": entry("bad", "deadlines", {**NOTICE, "status": "forgotten"}),
    "negative fine": entry("bad", "decisions", {"kind": "sanction", "fine_eur": -1}),
    "fine beyond BIGINT": entry("bad", "decisions", {"kind": "sanction", "fine_eur": 2**63}),
    "unknown party": entry("bad", "notifications", {
        "party": "press", "template": "t", "subject": "s"}),
    "another case": entry("bad", "events", {"seq": 9, "type": "t", "date": "2022-01-01"},
                          case_id="OTHER-CASE"),
    "unknown table": RegisterEntry.model_construct(
        key=f"{CASE}:bad", table="archive", case_id=CASE, at=T0, data={}),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("bad", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_entry_fails_the_whole_batch_for_good(register: Register,
                                                          bad: RegisterEntry) -> None:
    with pytest.raises(ApplicationError) as caught:
        register.record(batch(OPENED, EVENT_1, DEADLINE, DECISION, bad))
    assert caught.value.non_retryable
    assert caught.value.type == "MalformedRegisterEntry"
    assert f"{bad.key!r}" in caught.value.message
    assert counts(register) == dict.fromkeys(ENTRY_TABLES, 0)
    # nothing of the batch was consumed: without the bad entry it records in full
    assert register.record(batch(OPENED, EVENT_1, DEADLINE, DECISION)) == 4


def test_a_database_error_mid_batch_rolls_back_and_the_retry_records_everything(
        register: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    def lost_connection(*_: object) -> None:
        raise OperationalError("INSERT INTO decisions ...", {}, Exception("connection lost"))

    monkeypatch.setitem(register_module.WRITERS, "decisions", lost_connection)
    with pytest.raises(OperationalError):  # left to Temporal's retry policy
        register.record(FULL)
    assert counts(register) == dict.fromkeys(ENTRY_TABLES, 0)

    monkeypatch.undo()
    assert register.record(FULL) == 6
    assert register.count("register_keys") == 6


def test_event_rows_are_chained_and_an_alteration_is_found(register: Register) -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    batch = RegisterBatch(case_id="CH-1", entries=[
        RegisterEntry(key=f"CH-1:event:{n}", table="events", case_id="CH-1", at=at,
                      data={"seq": n, "type": "hearing_held", "date": f"2024-01-0{n}",
                            "event_id": None, "fields": {"n": n}})
        for n in (1, 2, 3)])
    register.record(batch)
    assert register.verify() == (3, None)
    with register.engine.begin() as conn:  # someone edits the second row's date
        conn.execute(update(db.events).where(db.events.c.key == "CH-1:event:2")
                     .values(date="2024-01-09"))
    checked, altered = register.verify()
    assert checked == 1 and altered is not None and altered["key"] == "CH-1:event:2"


def test_enforce_register_verify_reports_the_altered_row(register_url: str) -> None:
    from typer.testing import CliRunner

    from enforcement.interfaces.cli import app
    migrate(register_url)
    reg = Register(make_engine(register_url))
    at = datetime(2024, 1, 1, tzinfo=UTC)
    reg.record(RegisterBatch(case_id="CLI-1", entries=[
        RegisterEntry(key=f"CLI-1:event:{n}", table="events", case_id="CLI-1", at=at,
                      data={"seq": n, "type": "hearing_held", "date": "2024-01-01",
                            "event_id": None, "fields": {}}) for n in (1, 2)]))
    runner = CliRunner()
    ok = runner.invoke(app, ["register", "verify", "--database-url", register_url])
    assert ok.exit_code == 0 and "2 event rows" in ok.output
    with reg.engine.begin() as conn:
        conn.execute(update(db.events).where(db.events.c.key == "CLI-1:event:1")
                     .values(data={"forged": True}))
    bad = runner.invoke(app, ["register", "verify", "--database-url", register_url])
    assert bad.exit_code == 1
    assert "CLI-1:event:1" in bad.stderr
