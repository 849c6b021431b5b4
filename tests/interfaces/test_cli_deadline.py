"""The `enforce` command line, run for real: typer's CliRunner on the app, and the installed
`enforce` script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcement.case.procedure import ProcedureError, load_procedure_file
from enforcement.interfaces.cli import app
from tests.dates import JULY_14_PLUS_1_MONTH

runner = CliRunner()
ENFORCE = Path(sys.executable).parent / "enforce"
PROCEDURES = ("fr-cnil", "fr-cnil-simplified", "fr-cnil-urgency", "uk-ico")


def flat(text: str) -> str:
    """Rich wraps long lines to the terminal width: compare with whitespace collapsed."""
    return " ".join(text.split())


def assert_one_error_line(stderr: str, *must_say: str) -> None:
    assert stderr.startswith("error: "), stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    for words in must_say:
        assert words in stderr, f"{words!r} not in {stderr!r}"


# --- enforce deadline ----------------------------------------------------------------------

def test_human_output_names_the_due_date_and_every_explanation_sentence() -> None:
    # Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day -> Tue 16 Aug,
    # expiring at 24:00 Paris time (CEST, +02:00).
    result = runner.invoke(app, ["deadline", "2022-07-14", "1 month"])
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert out.startswith("Due 2022-08-16 (expires 2022-08-17T00:00:00+02:00)")
    for sentence in JULY_14_PLUS_1_MONTH:
        assert sentence in out
    assert result.stderr == ""


def test_json_output_has_exactly_the_contract_keys() -> None:
    # Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022, a working day: no roll.
    result = runner.invoke(app, ["deadline", "2021-11-26", "2 months", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"trigger", "period", "due", "expires_at", "explanation"}
    assert data["trigger"] == "2021-11-26"
    assert data["period"] == "2 months"
    assert data["due"] == "2022-01-26"
    assert data["expires_at"] == "2022-01-27T00:00:00+01:00"
    assert data["explanation"] == [
        "Period of 2 months from 2021-11-26 under the French Code of civil procedure, FR "
        "calendar; the day of the event is not counted (CPC art. 641).",
        "2 months after 2021-11-26 is 2022-01-26, the day with the same number (CPC art. 641).",
        "It expires at 24:00 on 2022-01-26, Europe/Paris time (2022-01-27T00:00:00+01:00).",
    ]


def test_json_with_a_calendar_rolls_and_an_hour_period() -> None:
    # Moselle: 25 Nov 2024 + 1 month = Wed 25 Dec, 26 Dec (St Stephen) too -> Fri 27 Dec.
    result = runner.invoke(app, ["deadline", "2024-11-25", "1 month", "--country", "FR",
                                 "--subdivision", "57", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["due"], data["expires_at"]) == ("2024-12-27", "2024-12-28T00:00:00+01:00")
    assert any("2024-12-26 is a public holiday" in s for s in data["explanation"])

    # 72 hours from Friday 25 Oct 2024 12:00 CEST, across the change to CET: never rolled.
    result = runner.invoke(app, ["deadline", "2024-10-25T12:00:00+02:00", "72 hours", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["due"] == data["expires_at"] == "2024-10-28T11:00:00+01:00"
    assert data["trigger"] == "2024-10-25T12:00:00+02:00"
    assert data["period"] == "72 hours"


def test_month_end_clamp_in_an_ordinary_and_a_leap_year() -> None:
    # Mon 31 Jan 2022 + 1 month: 31 Feb does not exist -> Mon 28 Feb 2022, a working day.
    result = runner.invoke(app, ["deadline", "2022-01-31", "1 month", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["due"], data["expires_at"]) == ("2022-02-28", "2022-03-01T00:00:00+01:00")
    assert data["explanation"][1] == (
        "1 month after 2022-01-31 would be day 31 of February 2022, which does not exist: it "
        "ends on the last day of that month, 2022-02-28 (CPC art. 641).")
    # Thu 30 Nov 2023 + 3 months: 30 Feb 2024 does not exist -> Thu 29 Feb (a leap year).
    result = runner.invoke(app, ["deadline", "2023-11-30", "3 months", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["due"] == "2024-02-29"


def test_procedure_option_uses_its_calendar_and_rules() -> None:
    # uk-ico: England and Wales calendar; 26 Aug 2024 is the Late Summer Bank Holiday.
    # 28 days from Mon 29 Jul 2024 = Mon 26 Aug -> Tue 27 Aug, to the end of the day: the
    # procedure's default rules are the Act's (DPA 2018 s. 205(2), Reg. 1182/71 art. 3).
    result = runner.invoke(app, ["deadline", "2024-07-29", "28 days", "--procedure", "uk-ico",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["due"] == "2024-08-27"
    assert data["expires_at"] == "2024-08-28T00:00:00+01:00"
    assert "DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(4)" in data["explanation"][2]


@pytest.mark.parametrize(("args", "must_say"), [
    (["2021-11-26", "2 monts"], ["'2 monts' is not a period", "accepted:", "'<n> months'"]),
    (["2021-11-26", "0 days"], ["zero length", "accepted:"]),
    (["2021-13-26", "2 months"], ["'2021-13-26' is not a date", "accepted:", "2022-07-14"]),
    (["26/11/2021", "2 months"], ["is not a date", "accepted:"]),
    (["2021-11-26", "2 months", "--country", "XX"],
     ["unknown country 'XX'", "supported:", "FR"]),
    (["2021-11-26", "2 months", "--country", "FR", "--subdivision", "99"],
     ["unknown subdivision '99' of FR", "supported:", "57"]),
    (["2021-11-26", "2 months", "--procedure", "fr-nope"],
     ["unknown procedure 'fr-nope'", "available:", "fr-cnil"]),
    (["2021-11-26", "2 months", "--procedure", "fr-cnil", "--country", "FR"],
     ["either --procedure or --country, not both"]),
    (["2021-11-26", "2 months", "--subdivision", "57"], ["--subdivision goes with --country"]),
    (["2021-11-26", "2 months", "--country", "FR", "--rules", "fr-nope"],
     ["unknown rule set 'fr-nope'", "accepted:", "fr-cpc", "eu-1182-71"]),
    (["9999-12-01", "2 months"], ["9999-12-01 is outside the years 1950-2150"]),
    (["1949-12-31T10:00:00+01:00", "2 hours"],
     ["1949-12-31T10:00:00+01:00 is outside the years 1950-2150"]),
    (["2025-01-10", "-1 month"], ["'-1 month': periods are positive", "accepted:"]),
    (["2025-01-10", "P-1M"], ["'P-1M': periods are positive"]),
])
def test_bad_input_exits_2_with_one_error_line(args: list[str], must_say: list[str]) -> None:
    result = runner.invoke(app, ["deadline", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert_one_error_line(result.stderr, *must_say)


# --- the installed script, in a real process -----------------------------------------------

def run_enforce(*args: str) -> subprocess.CompletedProcess[str]:
    assert ENFORCE.exists(), f"{ENFORCE} is not installed (pip install -e .)"
    return subprocess.run([str(ENFORCE), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_installed_script_json() -> None:
    proc = run_enforce("deadline", "2021-11-26", "2 months", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data) == ["trigger", "period", "due", "expires_at", "explanation"]
    assert data["due"] == "2022-01-26"
    assert data["expires_at"] == "2022-01-27T00:00:00+01:00"
    assert proc.stderr == ""


def test_installed_script_bad_period() -> None:
    proc = run_enforce("deadline", "2021-11-26", "2 monts")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, "'2 monts' is not a period", "accepted:")


def test_a_period_may_be_typed_without_quotes() -> None:
    # Fri 10 Jan 2025 + 2 months = Mon 10 Mar 2025, a working day.
    proc = run_enforce("deadline", "2025-01-10", "2", "months", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["due"] == "2025-03-10"


@pytest.mark.parametrize(("args", "must_say"), [
    (["deadline", "2025-01-10", "-1", "month"], ["'-1 month': periods are positive"]),
    (["deadline", "2025-01-10", "--", "-2", "months"], ["'-2 months': periods are positive"]),
    (["deadline", "2025-01-10"], ["Missing argument 'period'", "enforce deadline --help"]),
    (["deadline", "2025-01-10", "1 month", "--procedur", "uk-ico"],
     ["'1 month --procedur uk-ico' is not a period"]),
    (["nosuch"], ["No such command 'nosuch'", "enforce --help"]),
    (["case", "list", "--limit", "0"], ["--limit", "enforce case list --help"]),
    (["case", "list", "--due-before", "2999-01-01"],
     ["--due-before: 2999-01-01 is outside the years 1950-2150"]),
])
def test_usage_errors_are_one_line_too(args: list[str], must_say: list[str]) -> None:
    """Option parsing and usage mistakes are told like every other error: one line, exit 2,
    no framework box, nothing on standard output."""
    proc = run_enforce(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, *must_say)


def test_help_without_arguments_is_not_an_error() -> None:
    proc = run_enforce()
    assert proc.returncode == 0, proc.stderr
    assert "deadline" in proc.stdout and "simulate" in proc.stdout


# --- enforce procedures ----------------------------------------------------------------------

def test_procedures_list() -> None:
    result = runner.invoke(app, ["procedures", "list"])
    assert result.exit_code == 0, result.output
    for name in PROCEDURES:
        assert name in result.stdout
    result = runner.invoke(app, ["procedures", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in json.loads(result.stdout)}
    assert set(PROCEDURES) <= names


def test_procedures_show_json() -> None:
    result = runner.invoke(app, ["procedures", "show", "fr-cnil", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "fr-cnil"
    assert data["periods"]["appeal"] == "2 months"
    assert data["periods"]["appeal_abroad_extension"] == "2 months"
    assert data["calendar"]["timezone"] == "Europe/Paris"
    assert data["rules"] == "fr-cpc"


def test_procedures_show_human_and_unknown() -> None:
    result = runner.invoke(app, ["procedures", "show", "fr-cnil"])
    assert result.exit_code == 0, result.output
    assert "fr-cnil" in result.stdout and "appeal" in result.stdout
    result = runner.invoke(app, ["procedures", "show", "fr-nope"])
    assert result.exit_code == 2
    assert_one_error_line(result.stderr, "unknown procedure 'fr-nope'", "available:")


# --- malformed procedure file --------------------------------------------------------------

GOOD = """\
name = "{name}"
title = "Test procedure"
authority = "Test authority"
country = "FR"
rules = "fr-cpc"
{extra_top}
[calendar]
country = "FR"

[periods]
complainant_progress = "3 months"
information_response = "1 month"
formal_notice_compliance = "2 months"
formal_notice_minimum = "10 days"
report_observations = "1 month"
reply_observations = "1 month"
hearing_minimum_notice = "15 days"
appeal = "{appeal}"
liquidation_observations = "15 days"

[caps]
fine_max = 20_000_000
fine_turnover_pct = 4
penalty_per_day_max = 100_000
"""


def write(tmp_path: Path, name: str, appeal: str = "2 months", extra_top: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(GOOD.format(name=name, appeal=appeal, extra_top=extra_top),
                    encoding="utf-8")
    return path


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    proc = load_procedure_file(write(tmp_path, "test-ok"))
    assert proc.periods.appeal == "2 months"


def test_malformed_procedure_file_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "test-bad", appeal="2 monts")
    with pytest.raises(ProcedureError) as err:
        load_procedure_file(path)
    msg = str(err.value)
    assert "test-bad.toml" in msg
    assert "periods.appeal" in msg
    assert "'2 monts' is not a period" in msg


def test_unknown_key_in_procedure_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "test-extra", extra_top='colour = "blue"\n')
    with pytest.raises(ProcedureError) as err:
        load_procedure_file(path)
    msg = str(err.value)
    assert "test-extra.toml" in msg
    assert "colour" in msg


def test_both_faults_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "test-both", appeal="2 monts", extra_top='colour = "blue"\n')
    with pytest.raises(ProcedureError) as err:
        load_procedure_file(path)
    msg = str(err.value)
    assert msg.startswith("test-both.toml: ")
    assert "periods.appeal" in msg and "colour" in msg
