"""Reading a period: what is accepted, and the message a user gets for what is not."""

from __future__ import annotations

import pytest

from enforcement.law.periods import ACCEPTED_FORMS, Period, PeriodError, parse_period


def test_a_period_is_returned_as_given() -> None:
    p = Period(months=1, days=15)
    assert parse_period(p) is p
    assert str(parse_period("P1M15D")) == "1 month 15 days"
    assert parse_period("  1 Month, 2 Days ").text == "1 month 2 days"


@pytest.mark.parametrize(("value", "kind"), [(2, "int"), (None, "NoneType"),
                                             (["2 months"], "list")])
def test_a_period_that_is_not_text_names_its_type_and_the_accepted_forms(
        value: object, kind: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(value)  # type: ignore[arg-type]
    assert str(err.value) == f"a period must be text, not {kind}; accepted: {ACCEPTED_FORMS}"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty period"),
    ("2 fortnights", "'2 fortnights' is not a period: unknown unit 'fortnights'"),
    ("1 month 2 months", "'1 month 2 months' is not a period: months given twice"),
    ("0 days", "'0 days' is a period of zero length"),
    ("11 years", "'11 years': 11 years is longer than the 10 accepted"),
    ("72 hours 1 day", "'72 hours 1 day' mixes units that cannot be combined"),
])
def test_messages_for_periods_that_cannot_be_read(text: str, message: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(text)
    assert str(err.value).startswith(message)
