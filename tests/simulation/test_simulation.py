"""`enforce simulate`, run as a user runs it: the installed `enforce` script in a subprocess
(each run starts its own time-skipping server and worker), and typer's CliRunner for files
refused before anything starts. Expected dates and amounts are computed by hand; each
comment gives the arithmetic."""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from enforcement.interfaces.cli import app
from enforcement.simulation.scenarios import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
ENFORCE = Path(sys.executable).parent / "enforce"
runner = CliRunner()


def simulate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENFORCE), "simulate", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def simulate_json(*args: str | Path) -> Any:
    done = simulate(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def due(run: dict[str, Any], name: str) -> list[str]:
    return [d["due"] for d in run["deadlines"] if d["name"] == name]


def runs_by_variant(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["variant"]: r for r in doc["runs"] if r["run"] is None}


@pytest.fixture(scope="module")
def clearview(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The Clearview scenario with its variants, and the CSV, calendar and chart written."""
    out = tmp_path_factory.mktemp("clearview")
    doc = simulate_json(SCENARIOS / "clearview.yaml", "--csv", out / "cv.csv",
                        "--ics", out / "cv.ics", "--plot", out / "cv.png")
    return doc, out


def test_clearview_dates_and_amounts(clearview: tuple[dict[str, Any], Path]) -> None:
    doc, _ = clearview
    run = runs_by_variant(doc)["scenario"]
    assert run["case_id"] == "MED-2021-134" and run["procedure"] == "fr-cnil"
    # Formal notice received Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022, a working day.
    assert due(run, "formal_notice_compliance") == ["2022-01-26"]
    referral = [t for t in run["timeline"]
                if t["name"] == "referred_to_sanction" and t["kind"] == "outcome"]
    # Unanswered, the referral waits 5 working days of grace (Thu 27 Jan to Wed 2 Feb 2022)
    # and is final at their end: dated Thu 3 Feb 2022.
    assert [t["date"] for t in referral] == ["2022-02-03"]
    # Decision notified Mon 17 Oct 2022 + 2 months = Sat 17 Dec -> Mon 19 Dec 2022.
    assert due(run, "injunction_compliance") == ["2022-12-19"]
    # Established in the US: 2 + 2 months, 17 Oct 2022 + 4 months = Fri 17 Feb 2023; a délai
    # franc (CJA R421-1): Sat 18 Feb, rolled to Mon 20 Feb 2023.
    assert due(run, "appeal") == ["2023-02-20"]
    # Penalty from Tue 20 Dec 2022 to the liquidation cut-off of 9 Feb 2023 inclusive:
    # 12 (20-31 Dec) + 31 (Jan) + 9 (Feb) = 52 days x EUR 100,000 (SAN-2023-005).
    assert run["sanction"] == {"fine_eur": 20_000_000, "penalty_per_day_eur": 100_000,
                               "penalty_days": 52, "penalty_eur": 5_200_000,
                               "liquidated_eur": 5_200_000}
    assert (run["status"], run["stage"]) == ("open", "liquidated")
    assert run["rejected_events"] == [] and run["after_horizon"] == []
    first = run["deadlines"][0]
    assert set(first) == {"name", "trigger_date", "period", "due", "expires_at", "status",
                          "explanation", "history"}
    assert {t["kind"] for t in run["timeline"]} == {"event", "deadline", "reminder",
                                                    "notification", "outcome"}


def test_what_if_moves_dates_and_each_variant_keeps_its_own_horizon(
        clearview: tuple[dict[str, Any], Path]) -> None:
    doc, _ = clearview
    runs = runs_by_variant(doc)
    ext = runs["one-month extension"]
    # Extended by 1 month from the due date Wed 26 Jan 2022 = Sat 26 Feb -> Mon 28 Feb,
    # 33 days later (5 days left of January + 28).
    assert due(ext, "formal_notice_compliance") == ["2022-01-26", "2022-02-28"]
    moved = next(v for v in doc["summary"]["variants"] if v["variant"] == ext["variant"])
    assert {"what": "formal_notice_compliance due", "scenario": "2022-01-26",
            "variant": "2022-02-28", "days": 33} in moved["moved"]
    # the grace after Mon 28 Feb: Tue 1 to Mon 7 Mar, referred on Tue 8 Mar
    assert {"what": "referred_to_sanction", "scenario": "2022-02-03",
            "variant": "2022-03-08", "days": 33} in moved["moved"]
    # Compliance established 18 Jan 2023: 20-31 Dec (12) + 1-18 Jan (18) = 30 days after
    # the deadline of Mon 19 Dec 2022, EUR 3,000,000 accrued, nothing liquidated.
    late = runs["complies 30 days late"]["sanction"]
    assert (late["penalty_days"], late["penalty_eur"], late["liquidated_eur"]) == (
        30, 3_000_000, None)
    # No compliance, no liquidation: the penalty runs to this variant's own horizon, not to
    # the longer one of the scenario simulated in the same stretch of virtual time.
    never = runs["never complies, no liquidation yet"]
    assert never["horizon"] == "2023-03-31"
    # 20 Dec 2022 to 31 Mar 2023 inclusive: 12 + 31 + 28 + 31 = 102 days x EUR 100,000.
    assert never["sanction"]["penalty_days"] == 102
    assert never["sanction"]["penalty_eur"] == 10_200_000
    assert not [t for t in never["timeline"] if t["date"][:10] > "2023-03-31"]


def test_files_written(clearview: tuple[dict[str, Any], Path]) -> None:
    doc, out = clearview
    run = runs_by_variant(doc)["scenario"]
    ics = (out / "cv.ics").read_text()
    events = ics.split("BEGIN:VEVENT")[1:]
    assert len(events) == len({d["name"] for d in run["deadlines"]}) == 6
    for name, day in (("formal_notice_compliance", "20220126"),
                      ("injunction_compliance", "20221219"), ("appeal", "20230220")):
        block = next(e for e in events if f"CATEGORIES:{name.upper()}" in e.upper())
        assert f"DTSTART;VALUE=DATE:{day}" in block
    variant_ics = (out / "cv.one-month-extension.ics").read_text()
    assert "DTSTART;VALUE=DATE:20220228" in variant_ics
    png = (out / "cv.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    rows = list(csv.DictReader((out / "cv.csv").open()))
    assert {"scenario", "one-month extension"} <= {r["variant"] for r in rows}
    fines = [r for r in rows if r["variant"] == "scenario" and r["record"] == "sanction"
             and r["name"] == "penalty_eur"]
    assert [r["detail"] for r in fines] == ["5200000"]
    assert any(r["record"] == "deadline" and r["name"] == "injunction_compliance"
               and r["due"] == "2022-12-19" for r in rows)


def test_terminal_output_shows_rejected_scripted_events() -> None:
    done = simulate(SCENARIOS / "ontime.yaml")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    # Notice received Mon 3 Jun 2024 + 2 months = Sat 3 Aug -> Mon 5 Aug 2024.
    assert "Why each date" in text and "formal_notice_compliance due 2024-08-05" in text
    assert "What if" in text and "comply on day 80" in text
    # Day 80 falls after the notice's 2 months and after the 5 working days of grace the
    # referral waits (Tue 6 to Mon 12 Aug): the case was referred and the scripted
    # acceptance refused; the user sees it, with the stage and the reason.
    assert "Rejected events" in text
    assert ("compliance_accepted rejected: the case was referred when the formal notice due "
            "2024-08-05 ran out; compliance dated 2024-08-22 is not in time for it") in text
    # With a one-month extension (from Mon 5 Aug: Thu 5 Sep 2024, 31 days later), the same
    # date is in time.
    assert "2024-09-05 (+31 d)" in text


def test_rejections_in_json() -> None:
    doc = simulate_json(SCENARIOS / "ontime.yaml")
    runs = runs_by_variant(doc)
    assert runs["scenario"]["outcome"] == "complied"
    late = runs["comply on day 80"]
    assert (late["status"], late["stage"]) == ("open", "referred")
    [rej] = late["rejected_events"]
    # Day 80 after the notice of Mon 3 Jun 2024: 27 (rest of June) + 31 (July) + 22 =
    # Thu 22 Aug 2024, after the referral became final at 24:00 on Mon 12 Aug.
    assert rej["date"] == "2024-08-22"
    assert (rej["type"], rej["stage"]) == ("compliance_accepted", "referred")
    assert runs["extension, then comply on day 80"]["outcome"] == "complied"


def test_recording_delays_in_a_scenario() -> None:
    # Notice of Mon 3 Jun 2024, due Mon 5 Aug; the referral waits 5 working days, to 24:00
    # on Mon 12 Aug. An acceptance dated 5 Aug and recorded on Sun 11 Aug is in time for
    # both; recorded on Thu 15 Aug it finds the case referred and is flagged.
    runs = runs_by_variant(simulate_json(SCENARIOS / "late-record.yaml"))
    assert runs["scenario"]["outcome"] == "complied"
    early = runs["accepted on the last day, keyed in 6 days later"]
    assert (early["status"], early["outcome"]) == ("closed", "complied")
    [notice] = [d for d in early["deadlines"] if d["name"] == "formal_notice_compliance"]
    assert (notice["status"], [h["to"] for h in notice["history"]]) == ("met", ["met"])
    [accepted] = [t for t in early["timeline"]
                  if t["kind"] == "event" and t["name"] == "compliance_accepted"]
    assert (accepted["date"], accepted["recorded_at"][:10]) == ("2024-08-05", "2024-08-11")
    assert not [t for t in early["timeline"] if t["name"] == "referred_to_sanction"]
    late = runs["accepted on the last day, keyed in 10 days later"]
    assert (late["status"], late["stage"]) == ("open", "referred")
    assert [t["date"] for t in late["timeline"]
            if t["kind"] == "outcome" and t["name"] == "referral_contested"] == ["2024-08-05"]


def test_a_scenario_event_recorded_before_it_happened_is_refused() -> None:
    text = (SCENARIOS / "late-record.yaml").read_text().replace(
        "recorded: {after: notice, days: 69}", "recorded: {after: notice, days: 60}")
    with pytest.raises(ScenarioError, match=r"recorded: 2024-08-02 is before the event's "
                                            r"date 2024-08-05"):
        scenario = parse_scenario(text, "late-record.yaml")
        for variant in scenario.variants:
            scenario.plan(variant)


def test_single_run_json_is_one_object() -> None:
    run = simulate_json(SCENARIOS / "uk-ico.yaml")
    assert run["case_id"] == "ICO-CLEARVIEW" and run["procedure"] == "uk-ico"
    # Notice of intent Mon 29 Nov 2021: 21 days beginning when it is given (DPA 2018 Sch. 16
    # para 3(4)), counted under s. 205(2) (29 Nov not counted): Mon 20 Dec 2021; the 6
    # months: Sun 29 May 2022 -> Mon 30 May; penalty notice Wed 18 May 2022 + 28 days to pay
    # and to appeal = Wed 15 Jun 2022, a working day in England.
    assert due(run, "representations") == ["2021-12-20"]
    assert due(run, "penalty_notice_limit") == ["2022-05-30"]
    assert due(run, "payment") == ["2022-06-15"]
    assert due(run, "penalty_notice_appeal") == ["2022-06-15"]
    assert run["sanction"]["fine_eur"] == 7_552_800


def test_batch_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    args = (SCENARIOS / "extension.yaml", "--runs", "4", "--seed", "11")
    one = simulate_json(*args, "--plot", tmp_path / "batch.html")
    two = simulate_json(*args)
    assert one["summary"]["batch"] == two["summary"]["batch"]
    batch = one["summary"]["batch"]
    assert (batch["runs"], batch["seed"]) == (4, 11)
    drawn = [r for r in one["runs"] if r["run"] is not None]
    assert [r["run"] for r in drawn] == [0, 1, 2, 3]
    for r in drawn:
        assert 35 <= r["draws"]["evidence after notice"] <= 75
        assert 2 <= r["draws"]["compliance_accepted after evidence"] <= 10
    stats = batch["by_variant"]["scenario"]
    assert sum(stats["outcomes"].values()) == 4
    # The notice's extended deadline does not depend on the draws: Mon 31 Jul 2023 + 1 month
    # = Thu 31 Aug; extended by 1 month: 31 Sep does not exist -> Sat 30 Sep -> Mon 2 Oct.
    assert stats["dates"]["formal_notice_compliance due"]["p50"] == "2023-10-02"
    closed = sorted(r["timeline"][-1]["date"][:10] for r in drawn
                    if r["outcome"] == "complied")
    if closed:
        assert stats["dates"]["case_closed"]["min"] == closed[0]
    page = (tmp_path / "batch.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "p50" in page
    # complete: shares, sanction figures, the timeline, every explanation sentence
    assert "Outcomes: " in page and "days of delay" in page and "<summary>Timeline" in page
    base = next(r for r in one["runs"] if r["run"] is None)
    for d in base["deadlines"]:
        for sentence in d["explanation"]:
            assert html.escape(sentence) in page
    # self-contained: nothing to fetch (the only addresses are the SVG's namespaces)
    assert " src=" not in page and "<link" not in page and "<script" not in page
    assert not re.search(r'href="(?!#)', page)
    other = simulate_json(SCENARIOS / "extension.yaml", "--runs", "4", "--seed", "12")
    assert [r.get("draws") for r in other["runs"]] != [r.get("draws") for r in one["runs"]]


# --- bad scenario files: one error line naming the line and the field, exit 2 ---------------

GOOD = (SCENARIOS / "ontime.yaml").read_text()


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error: bad.yaml:") and err.count("\n") == 1, err
    return err


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unknown_event_type(tmp_path: Path) -> None:
    text = GOOD.replace("type: information_provided", "type: information_sent")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'information_sent')}: events[3].type: unknown event " \
           f"type 'information_sent'; accepted: complaint_received" in err


def test_bad_date(tmp_path: Path) -> None:
    text = GOOD.replace("date: 2024-03-18", "date: 2024-02-30")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, '2024-02-30')}: events[3].date: '2024-02-30'" in err
    text = GOOD.replace("horizon: 2025-06-30", "horizon: 30/06/2025")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'horizon:')}: horizon: '30/06/2025' is not a date" in err


def test_dates_outside_the_accepted_years(tmp_path: Path) -> None:
    text = GOOD.replace("date: 2024-03-18", "date: 9024-03-18")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, '9024-03-18')}: events[3].date: 9024-03-18 is outside " \
           f"the years 1950-2150 the engine accepts" in err
    text = GOOD.replace("horizon: 2025-06-30", "horizon: 1925-06-30")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'horizon:')}: horizon: 1925-06-30 is outside" in err


def test_missing_field(tmp_path: Path) -> None:
    text = GOOD.replace("    kind: online\n", "")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'type: investigation_opened')}: events[1].kind: " \
           f"missing field" in err
    text = GOOD.replace("    country: FR\n", "")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'controller:')}: case.controller.country: missing " \
           f"field" in err


def test_bad_references_and_values(tmp_path: Path) -> None:
    text = GOOD.replace("{after: notice, days: 45}", "{after: notise, days: 45}")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'notise')}: no event 'notise'" in err
    text = GOOD.replace("period: 2 months\n", "period: two months\n")
    err = refused(tmp_path, text)
    assert f"bad.yaml:{line_of(text, 'two months')}: events[4].period:" in err
    text = GOOD.replace("procedure: fr-cnil", "procedure: fr-cnill")
    assert "bad.yaml:2: procedure: unknown procedure 'fr-cnill'" in refused(tmp_path, text)
    text = GOOD + "batch:\n  runs: 5\n  draws:\n    - {event: accepted, after: notice, " \
                  "distribution: poisson, low: 1}\n"
    err = refused(tmp_path, text)
    assert "batch.draws[0].distribution: unknown distribution 'poisson'" in err
    text = GOOD.replace("events:", "event:", 1)
    assert "event: unknown field" in refused(tmp_path, text)


def test_runs_without_a_batch_section(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(SCENARIOS / "ontime.yaml"), "--runs", "3"])
    assert result.exit_code == 2
    assert "need a `batch` section with draws" in result.stderr


def test_events_refused_at_the_sanction_stage_are_shown_after_closure(tmp_path: Path) -> None:
    text = (SCENARIOS / "clearview.yaml").read_text().split("\nwhat_if:")[0]
    # A second hearing_held while the committee deliberates (heard 13 Oct 2022, decided
    # 17 Oct), then the case is closed after the liquidation.
    text = text.replace("horizon: 2023-06-30", """  - type: hearing_held
    date: 2022-10-14
  - type: case_closed
    date: 2023-05-01
    reason: appeal withdrawn
horizon: 2023-06-30""")
    path = tmp_path / "closed.yaml"
    path.write_text(text)
    # As written, the scenario had a refused event: the output comes, then exit 3 ...
    refused = simulate(path, "--json")
    assert refused.returncode == 3
    assert refused.stderr.splitlines()[-1] == (
        "error: the scenario as written had 1 event(s) the case refused, the first "
        "hearing_held dated 2022-10-14: hearing_held does not fit the case at stage "
        "'deliberation'; accepted now: sanction_decided, case_suspended, case_resumed, "
        "extension_granted, case_closed, referral_undone, compliance_accepted, "
        "event_corrected, event_withdrawn (--allow-rejected to exit 0)")
    # ... unless asked not to
    run = simulate_json(path, "--allow-rejected")
    assert json.loads(refused.stdout) == run
    assert (run["status"], run["outcome"]) == ("closed", "appeal withdrawn")
    [rej] = run["rejected_events"]
    assert (rej["date"], rej["type"], rej["stage"]) == ("2022-10-14", "hearing_held",
                                                        "deliberation")
    assert "accepted now: sanction_decided" in rej["reason"]


def test_register_kept_records_every_event_and_notification_and_sends_nothing(
        tmp_path: Path) -> None:
    """With --register, the simulated cases write their register: each applied event and
    each notification of the timeline once, the notifications recorded (not sent)."""
    from sqlalchemy import select

    from activities.register import Register
    from activities.register_db import events, make_engine, notifications

    url = f"sqlite:///{tmp_path / 'sim.db'}"
    run = simulate_json(SCENARIOS / "uk-ico.yaml", "--register", url)
    register = Register(make_engine(url))
    timeline = run["timeline"]
    # the events applied, and the referral the engine made itself, each once, in order
    applied = [(t["name"], t["date"]) for t in timeline if t["kind"] == "event"
               or (t["kind"], t["name"]) == ("outcome", "referred_to_sanction")]
    with register.engine.connect() as conn:
        rows = conn.execute(select(events).order_by(events.c.seq)).all()
        sent = {(r.channel, r.status) for r in conn.execute(select(notifications))}
    assert [(r.type, r.date) for r in rows] == applied and len(rows) > 5
    assert register.count("notifications") == [t["kind"] for t in timeline].count(
        "notification") > 5
    assert sent == {("register", "recorded")}
    verify = subprocess.run([str(ENFORCE), "register", "verify", "--database-url", url],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and "every chain verified" in verify.stdout

