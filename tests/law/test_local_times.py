"""Local times, offsets and subdivision codes as users type them (domain.md section 3, item
13): a time the clocks skip or show twice is refused with how to write it, an instant with
another offset is converted and the explanation shows both, hours across a clock change
are counted as they elapse and say so. Expectations worked out by hand from the dates of
the European clock changes (last Sunday of March and of October, at 01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from enforcement.interfaces.cli import app
from enforcement.law.calendars import get_calendar
from enforcement.law.timelimits import (
    TimeLimitError,
    compute_deadline,
    earliest_date,
    parse_moment,
    suspend_deadline,
)

PARIS = get_calendar("FR")
LONDON = get_calendar("GB", "ENG")
runner = CliRunner()


@pytest.mark.parametrize(("typed", "cal", "says"), [
    # Sun 29 Mar 2026: Paris goes from 02:00 to 03:00; 02:30 never shows on a clock.
    ("2026-03-29T02:30", PARIS, "2026-03-29T02:30 does not exist in Europe/Paris: the clocks "
                                "go forward that night; write the time with its offset, e.g. "
                                "2026-03-29T03:30+02:00"),
    # Sun 25 Oct 2026: Paris goes back from 03:00 to 02:00; 02:30 shows twice.
    ("2026-10-25T02:30", PARIS, "2026-10-25T02:30 happens twice in Europe/Paris: the clocks go "
                                "back that night; write the time with its offset: "
                                "2026-10-25T02:30+02:00 (the first) or 2026-10-25T02:30+01:00 "
                                "(the second)"),
    # London changes an hour earlier on the wall clock: 01:00 -> 02:00, and 02:00 -> 01:00.
    ("2026-03-29T01:15", LONDON, "2026-03-29T01:15 does not exist in Europe/London"),
    ("2026-10-25T01:15", LONDON, "2026-10-25T01:15 happens twice in Europe/London"),
])
def test_a_local_time_the_clocks_skip_or_repeat_is_refused(typed: str, cal: object,
                                                           says: str) -> None:
    with pytest.raises(TimeLimitError) as err:
        compute_deadline(parse_moment(typed), "2 hours", cal)  # type: ignore[arg-type]
    assert str(err.value).startswith(says), str(err.value)


def test_times_just_outside_the_change_are_taken_as_local() -> None:
    # 01:59 on 29 Mar 2026 is still winter time in Paris (+01:00): 2 elapsed hours later the
    # clocks show 04:59 summer time (+02:00), and the explanation says the offset changed.
    dl = compute_deadline(parse_moment("2026-03-29T01:59"), "2 hours", PARIS)
    assert dl.due.isoformat() == "2026-03-29T04:59:00+02:00"
    assert dl.explanation[-1] == ("The clocks changed during the period (UTC offset +01:00 "
                                  "before, +02:00 after): the hours are counted as they "
                                  "elapse.")
    # 03:00 the same day exists once: it is summer time.
    dl = compute_deadline(parse_moment("2026-03-29T03:00"), "2 hours", PARIS)
    assert dl.due.isoformat() == "2026-03-29T05:00:00+02:00"
    assert "clocks changed" not in " ".join(dl.explanation)


def test_an_instant_with_another_offset_is_converted_and_both_are_shown() -> None:
    # 23:30 UTC on Sat 24 Oct 2026 is 01:30 summer time in Paris; 2 elapsed hours later it is
    # 01:30 UTC, which Paris shows as 02:30 winter time (+01:00).
    dl = compute_deadline(parse_moment("2026-10-24T23:30:00+00:00"), "2 hours", PARIS)
    assert dl.due.isoformat() == "2026-10-25T02:30:00+01:00"
    # (compared in UTC: an aware time in the repeated hour never equals another zone's)
    assert dl.expires_at.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert dl.explanation[0] == ("2026-10-24T23:30:00+00:00 is 2026-10-25T01:30:00+02:00 in "
                                 "Europe/Paris time.")
    assert "UTC offset +02:00 before, +01:00 after" in dl.explanation[-1]
    # A day period counts from the local day: 23:30 in New York on Thu 14 Jul 2022 is
    # 05:30 on Fri 15 Jul in Paris; + 1 month = Mon 15 Aug, Assumption Day -> Tue 16 Aug.
    dl = compute_deadline(parse_moment("2022-07-14T23:30:00-04:00"), "1 month", PARIS)
    assert dl.due.isoformat() == "2022-08-16"
    assert dl.explanation[0] == ("2022-07-14T23:30:00-04:00 is 2022-07-15T05:30:00+02:00 in "
                                 "Europe/Paris time.")


def test_the_cli_refuses_a_skipped_time_in_one_line() -> None:
    result = runner.invoke(app, ["deadline", "2026-03-29T02:30", "2 hours"])
    assert result.exit_code == 2
    assert result.stderr == ("error: 2026-03-29T02:30 does not exist in Europe/Paris: the "
                             "clocks go forward that night; write the time with its offset, "
                             "e.g. 2026-03-29T03:30+02:00\n")


@pytest.mark.parametrize("code", ["67", "68", "6AE", "Alsace"])
def test_alsace_department_codes_name_the_alsace_calendar(code: str) -> None:
    # Thu 24 Dec 2026 + 1 day = Fri 25 Dec (Christmas); Sat 26 Dec is a holiday in Alsace
    # (and a Saturday), Sun 27 Dec: the period ends on Mon 28 Dec 2026.
    cal = get_calendar("FR", code)
    assert cal.key == "FR-6AE"
    assert compute_deadline(parse_moment("2026-12-24"), "1 day", cal).due.isoformat() == \
        "2026-12-28"
    # Good Friday, 3 Apr 2026, is a holiday there and not in the rest of France:
    # Thu 2 Apr + 1 day rolls to Tue 7 Apr (Easter Monday 6 Apr) in Alsace only.
    assert compute_deadline(parse_moment("2026-04-02"), "1 day", cal).due.isoformat() == \
        "2026-04-07"
    assert compute_deadline(parse_moment("2026-04-02"), "1 day", PARIS).due.isoformat() == \
        "2026-04-03"


def test_an_unknown_subdivision_lists_the_codes_and_the_aliases() -> None:
    result = runner.invoke(app, ["deadline", "2026-12-24", "1 day", "--country", "FR",
                                 "--subdivision", "99"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown subdivision '99' of FR; supported: 57, 6AE")
    assert result.stderr.endswith("; 67 for 6AE; 68 for 6AE\n")


def test_a_date_time_is_judged_by_its_day() -> None:
    # Thu 14 Jul 2022 is National Day, whatever the hour.
    assert PARIS.is_working_day(datetime(2022, 7, 14, 10)) is False
    assert PARIS.why_not_working(datetime(2022, 7, 14, 10)) == "a public holiday (National Day)"
    assert PARIS.is_working_day(datetime(2022, 7, 15, 10)) is True


def test_hour_periods_keep_their_sentence_when_suspended_or_used_as_notice() -> None:
    # 72 hours from Fri 5 Jan 2024 14:00 run to Mon 8 Jan 14:00; suspended 2 days: Wed 10 Jan.
    dl = compute_deadline(parse_moment("2024-01-05T14:00:00+01:00"), "72 hours", PARIS)
    moved = suspend_deadline(dl, 2, PARIS)
    assert moved.explanation == (
        "72 hours from 2024-01-05T14:00:00+01:00 runs to 2024-01-08T14:00:00+01:00 "
        "(Europe/Paris time); a period in hours is counted by the clock and is never extended "
        "for Saturdays, Sundays or public holidays.",
        "The case was suspended for 2 days: the end moves to 2024-01-10T14:00:00+01:00.")
    # A notice of at least 24 hours given on Fri 15 Jul 2022 at 18:00: the earliest day is
    # Sat 16 Jul, and the explanation says why.
    first, why = earliest_date(parse_moment("2022-07-15T18:00:00+02:00"), "24 hours", PARIS)
    assert first.isoformat() == "2022-07-16"
    assert why == ("24 hours from 2022-07-15T18:00:00+02:00 runs to 2022-07-16T18:00:00+02:00 "
                   "(Europe/Paris time); a period in hours is counted by the clock and is "
                   "never extended for Saturdays, Sundays or public holidays.",)
    # A day period drops only its old closing expiry sentence when suspended: Fri 6 Mar 2026
    # + 7 days = Fri 13 Mar, one expiry sentence, the new one, last.
    dl = compute_deadline(parse_moment("2026-01-06"), "2 months", PARIS)
    moved = suspend_deadline(dl, 7, PARIS)
    assert moved.explanation[:-2] == dl.explanation[:-1]
    assert moved.explanation[-2:] == (
        "The case was suspended for 7 days: those days are added to the period, whose last "
        "day becomes 2026-03-13.",
        "It expires at 24:00 on 2026-03-13, Europe/Paris time (2026-03-14T00:00:00+01:00).")
