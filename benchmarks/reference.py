"""Due dates counted without the engine, for the benchmarks' correctness checks: the
same-numbered day (`relativedelta`), one day more for a délai franc (CJA R421-1), rolled past
a Saturday, Sunday or French public holiday (CPC art. 642) with the `holidays` package's own
calendar."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
from dateutil.relativedelta import relativedelta

_FR = holidays.country_holidays("FR")


def fr_due(trigger: date, period: relativedelta, franc: bool = False) -> date:
    """The last day of `period` after `trigger` under the French rules (metropolitan)."""
    d: date = trigger + period + timedelta(days=1 if franc else 0)
    while d.weekday() >= 5 or d in _FR:
        d += timedelta(days=1)
    return d
