"""`enforce case ...` against a real Temporal dev server with a worker (in a background
thread): typer's CliRunner on the app, and the installed `enforce` script in a subprocess.
Expected dates are computed by hand: fixed past dates where the case may be back-dated,
recent days with known calendar facts (tests/dates.py) where its deadlines must still be
ahead on the real clock."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from icalendar import Calendar
from typer.testing import CliRunner, Result

from enforcement.case.machine import ANYTIME
from enforcement.families import get_procedure
from enforcement.families.cnil import ACCEPTS
from enforcement.interfaces.cli import app
from enforcement.ops.settings import get_settings
from tests.dates import JULY_14_PLUS_1_MONTH, months_later, recent_day, working_day
from tests.fixtures_stack import Stack

runner = CliRunner()
ENFORCE = Path(sys.executable).parent / "enforce"
FR = get_procedure("fr-cnil")
TODAY = date.today()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The worker's logs go to the real stderr: CliRunner captures sys.stdout while a
    # command runs, and the worker thread logs meanwhile.
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.__stderr__))
    try:
        with Stack(tmp_path_factory.mktemp("cli"), api=False) as s:
            yield s
    finally:
        structlog.configure(**saved)


@pytest.fixture(autouse=True)
def on_engine(engine: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment: point it at the test engine."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", engine.address)
    monkeypatch.setenv("ENFORCE_TASK_QUEUE", engine.task_queue)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def enforce(*args: str, code: int = 0, stdin: str | None = None) -> Result:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def flat(text: str) -> str:
    """Rich wraps and frames tables to the terminal width: compare words only."""
    return " ".join(text.replace("│", " ").replace("┃", " ").split())


def one_error_line(result: Result, *must_say: str) -> str:
    err = result.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
    for words in must_say:
        assert words in err, f"{words!r} not in {err!r}"
    return err


def new_id(prefix: str = "CLI") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def open_clearview(case_id: str, on: date = TODAY) -> Result:
    return enforce("case", "open", "--case-id", case_id, "--controller", "Clearview AI Inc.",
                   "--country", "US", "--complainant-ref", "C-2020-001",
                   "--subject", "facial recognition scraping",
                   "--complaint-date", on.isoformat())


def show_json(case_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(enforce("case", "show", case_id, "--json").stdout)
    return data


# --- enforce case open -----------------------------------------------------------------------

def test_open_from_options_prints_the_stage_and_first_deadline() -> None:
    cid = new_id()
    result = open_clearview(cid, date(2020, 5, 25))
    out = flat(result.stdout)
    assert f"opened case {cid}" in out
    assert "Clearview AI Inc. (US), procedure fr-cnil" in out
    assert "stage: complaint" in out
    # Complaint Mon 25 May 2020 + 3 months = Tue 25 Aug 2020, a working day.
    assert "complainant_progress 3 months 2020-05-25 2020-08-25" in out


def test_open_from_a_yaml_file(tmp_path: Path) -> None:
    cid = new_id("YAML")
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump({
        "case_id": cid, "procedure": "fr-cnil",
        "controller": {"name": "Clearview AI Inc.", "country": "US"},
        "complainant_ref": "C-2020-001",
        "events": [
            {"type": "complaint_received", "date": "2020-05-25", "subject": "scraping",
             "complainant_ref": "C-2020-001"},
            {"type": "investigation_opened", "date": "2020-08-26", "kind": "online"}]}))
    enforce("case", "open", "--file", str(path))
    status = show_json(cid)
    assert status["stage"] == "investigation"
    assert [t["name"] for t in status["timeline"] if t["kind"] == "event"] == [
        "complaint_received", "investigation_opened"]


def test_open_from_json_on_stdin_with_options_overriding() -> None:
    cid = new_id("JSON")
    body = {"case_id": "ignored", "controller": {"name": "Acme SA", "country": "FR"},
            "subject": "cookies"}
    result = enforce("case", "open", "--file", "-", "--case-id", cid, "--json",
                     stdin=json.dumps(body))
    status = json.loads(result.stdout)
    assert status["case_id"] == cid and status["stage"] == "new"
    assert status["controller"]["name"] == "Acme SA"


def test_open_errors_are_one_line_naming_the_field(tmp_path: Path) -> None:
    one_error_line(enforce("case", "open", "--case-id", new_id(), "--controller", "X",
                           code=2), "controller.country: Field required")
    one_error_line(enforce("case", "open", "--case-id", "bad id", "--controller", "X",
                           "--country", "FRA", code=2), "case_id:", "controller.country:")
    one_error_line(enforce("case", "open", "--case-id", new_id(), "--controller", "X",
                           "--country", "FR", "--procedure", "xx-none", code=2),
                   "procedure: unknown procedure 'xx-none'", "fr-cnil")
    one_error_line(enforce("case", "open", "--case-id", new_id(), "--controller", "X",
                           "--country", "FR", "--complaint-date", "someday", code=2),
                   "events.0.complaint_received.date")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    one_error_line(enforce("case", "open", "--file", str(bad), code=2),
                   "expected a mapping")
    one_error_line(enforce("case", "open", "--file", str(tmp_path / "none.yaml"), code=2),
                   "cannot read")


def test_open_an_existing_case_fails() -> None:
    cid = new_id()
    open_clearview(cid)
    one_error_line(enforce("case", "open", "--case-id", cid, "--controller", "X",
                           "--country", "FR", code=2), f"case {cid} already exists")


# --- enforce case event ----------------------------------------------------------------------

def test_event_with_options_moves_the_case() -> None:
    cid = new_id()
    open_clearview(cid, date(2021, 11, 1))
    result = enforce("case", "event", cid, "formal_notice_issued", "--date", "2021-11-26",
                     "--period", "2 months", "--measure", "stop collecting",
                     "--measure", "delete data")
    out = flat(result.stdout)
    assert f"formal_notice_issued applied to {cid}" in out
    status = show_json(cid)
    # Received Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022, a working day.
    [dl] = [d for d in status["deadlines"] if d["name"] == "formal_notice_compliance"]
    assert dl["due"] == "2022-01-26"
    [entry] = [t for t in status["timeline"] if t["name"] == "formal_notice_issued"
               and t["kind"] == "event"]
    assert "stop collecting" in entry["detail"] and "delete data" in entry["detail"]


def test_event_from_a_file(tmp_path: Path) -> None:
    cid = new_id()
    open_clearview(cid)
    path = tmp_path / "event.yaml"
    path.write_text("kind: documents\nid: inv-1\n")
    for _ in range(2):  # the same id twice: applied once
        enforce("case", "event", cid, "investigation_opened", "--file", str(path),
                "--date", TODAY.isoformat())
    events = [t["name"] for t in show_json(cid)["timeline"] if t["kind"] == "event"]
    assert events == ["complaint_received", "investigation_opened"]


def test_event_that_does_not_fit_names_the_stage_and_accepted_events() -> None:
    cid = new_id()
    open_clearview(cid)
    result = enforce("case", "event", cid, "hearing_held", "--date", TODAY.isoformat(),
                     code=2)
    one_error_line(result, "hearing_held does not fit the case at stage 'complaint'",
                   "accepted now: " + ", ".join([*ACCEPTS["complaint"], *ANYTIME,
                                                 "event_corrected", "event_withdrawn"]))


def test_event_input_errors_name_the_field() -> None:
    cid = new_id()
    one_error_line(enforce("case", "event", cid, "hearing_held", "--court", "CE", code=2),
                   "court: Extra inputs are not permitted")
    one_error_line(enforce("case", "event", cid, "no_such_event", code=2),
                   "unknown event type 'no_such_event'; accepted: ", "formal_notice_issued")
    one_error_line(enforce("case", "event", cid, "formal_notice_issued", "--period",
                           "a while", code=2), "period:")
    one_error_line(enforce("case", "event", cid, "case_closed", "--date", "1900-01-01",
                           code=2), "date: 1900-01-01 is outside the years")
    one_error_line(enforce("case", "event", "NO-SUCH-CASE", "hearing_held", "--date",
                           "2022-10-13", code=2), "no case 'NO-SUCH-CASE'")


# --- enforce case show / list / ics ----------------------------------------------------------

def test_show_prints_stage_deadlines_explanations_and_timeline() -> None:
    cid = new_id()
    open_clearview(cid, date(2022, 7, 1))
    enforce("case", "event", cid, "information_requested", "--date", "2022-07-14",
            "--period", "1 month")
    out = flat(enforce("case", "show", cid).stdout)
    assert "stage: investigation" in out
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day -> Tue 16 Aug.
    assert "information_response due 2022-08-16" in out
    for sentence in JULY_14_PLUS_1_MONTH:
        assert sentence in out
    assert "Timeline" in out and "information_requested" in out
    one_error_line(enforce("case", "show", "NO-SUCH-CASE", code=2), "no case")


def test_list_filters_by_stage_procedure_and_due_before() -> None:
    # A recent complaint (its deadline is ahead on the real clock) whose same-numbered day
    # 3 months on is a working day: the complainant's progress is due that day, no roll.
    day = recent_day(lambda d: working_day(months_later(d, 3), "FR"))
    due = months_later(day, 3)
    a, b = new_id("LA"), new_id("LB")
    open_clearview(a, day)
    open_clearview(b, day)
    enforce("case", "event", b, "investigation_opened", "--date", day.isoformat(),
            "--kind", "online")
    assert show_json(a)["deadlines"][0]["due"] == due.isoformat()

    def ids(*args: str) -> list[str]:
        rows = json.loads(enforce("case", "list", "--json", *args).stdout)
        return [r["case_id"] for r in rows]

    for _ in range(75):  # the listing is eventually consistent
        if a in ids("--stage", "complaint") and b in ids("--stage", "investigation"):
            break
        time.sleep(0.2)
    assert a in ids("--stage", "complaint") and b not in ids("--stage", "complaint")
    assert a in ids("--procedure", "fr-cnil") and a not in ids("--procedure", "uk-ico")
    assert a not in ids("--due-before", due.isoformat())
    assert a in ids("--due-before", (due + timedelta(days=1)).isoformat())
    assert b not in ids("--due-before", (due + timedelta(days=1)).isoformat())  # met
    table = flat(enforce("case", "list", "--stage", "complaint").stdout)
    assert a in table and "fr-cnil" in table
    one_error_line(enforce("case", "list", "--stage", "nowhere", code=2),
                   "stage: unknown stage 'nowhere'", "formal_notice")
    one_error_line(enforce("case", "list", "--due-before", "soon", code=2), "--due-before")
    one_error_line(enforce("case", "list", "--due-before", "2026-01-01T10:00", code=2),
                   "offset")


def test_ics_writes_one_event_per_deadline(tmp_path: Path) -> None:
    # A recent notice whose same-numbered day 2 months on is a working day: due that day.
    day = recent_day(lambda d: working_day(months_later(d, 2), "FR"))
    cid = new_id()
    open_clearview(cid, day)
    enforce("case", "event", cid, "formal_notice_issued", "--date", day.isoformat(),
            "--period", "2 months")
    target = tmp_path / "case.ics"
    enforce("case", "ics", cid, "--output", str(target))
    cal = Calendar.from_ical(target.read_bytes())
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"complainant_progress-1.{cid}@enforcement-engine",
                           f"formal_notice_compliance-1.{cid}@enforcement-engine"}
    ev = events[f"formal_notice_compliance-1.{cid}@enforcement-engine"]
    assert ev.decoded("DTSTART") == months_later(day, 2)
    assert len(list(ev.walk("VALARM"))) == len(FR.reminders.offsets_days)
    stdout = enforce("case", "ics", cid).stdout
    assert stdout.startswith("BEGIN:VCALENDAR") and f"UID:formal_notice_compliance-1.{cid}" \
        in stdout.replace("\r\n ", "")


# --- the real script, and an engine that cannot be reached -----------------------------------

def test_installed_script_against_the_dev_server(engine: Stack) -> None:
    cid = new_id("SCRIPT")
    env = {**os.environ, "TEMPORAL_ADDRESS": engine.address,
           "ENFORCE_TASK_QUEUE": engine.task_queue}
    opened = subprocess.run(
        [str(ENFORCE), "case", "open", "--case-id", cid, "--controller", "Clearview AI Inc.",
         "--country", "US", "--complaint-date", "2020-05-25", "--subject", "scraping",
         "--complainant-ref", "C-1"], env=env, capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    refused = subprocess.run([str(ENFORCE), "case", "event", cid, "hearing_held", "--date",
                              "2020-06-01"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: hearing_held does not fit")
    assert refused.stderr.count("\n") == 1


def test_unreachable_engine_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    get_settings.cache_clear()
    result = enforce("case", "show", "ANY", code=1)
    one_error_line(result, "cannot reach Temporal at 127.0.0.1:9", "make run")


def test_a_mistaken_event_is_withdrawn_and_corrected_from_the_cli(tmp_path: Path) -> None:
    cid = new_id()
    open_clearview(cid, date(2022, 7, 1))
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day -> Tue 16 Aug.
    enforce("case", "event", cid, "information_requested", "--date", "2022-07-14",
            "--period", "1 month")
    # the timeline numbers events and says who recorded them
    [entry] = [t for t in show_json(cid)["timeline"] if t["name"] == "information_requested"
               and t["kind"] == "event"]
    assert (entry["seq"], entry["recorded_by"]) == (2, f"{getpass.getuser()} (CLI)")
    right = tmp_path / "right.yaml"
    right.write_text("type: information_requested\ndate: 2022-07-14\nperiod: 15 days\n")
    one_error_line(enforce("case", "event", cid, "event_corrected", "--seq", "2",
                           "--corrected", str(right), code=2), "reason", "Field required")
    enforce("case", "event", cid, "event_corrected", "--seq", "2", "--reason",
            "the request said 15 days", "--corrected", str(right))
    # 14 Jul + 15 days = Fri 29 Jul 2022, a working day.
    [rec] = [d for d in show_json(cid)["deadlines"] if d["name"] == "information_response"]
    assert (rec["due"], rec["period"]) == ("2022-07-29", "15 days")
    enforce("case", "event", cid, "event_withdrawn", "--seq", "2", "--reason",
            "sent to the wrong case")
    status = show_json(cid)
    assert status["stage"] == "complaint"
    assert [d["status"] for d in status["deadlines"] if d["name"] == "information_response"
            ] == ["cancelled"]
