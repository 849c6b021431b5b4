"""Procedure parameter sets: one TOML file per authority and procedure in `procedures/`.

The workflows read these parameters instead of hard-coding any period, cap or reminder, so
adding an authority is adding a file. Files are validated on load with errors that name the
file and the field.

Schema 2 (`schema = 2` at the top of the file) lets each period be a table instead of a
bare length, so that every value carries where it comes from:

    appeal = { length = "2 months", rules = "fr-cja", source = "CJA R421-1",
               confirmed = true, kind = "right", holder = "controller" }

`rules` overrides the procedure's default rule set for that period only; `confirmed = false`
marks a value not checked against the consolidated text; `practice = true` labels office
practice (not law), which every explanation using it says; `kind` is "right" (a party's
option: it ends exercised or lapsed) or "obligation" (met or missed); `holder` names who
holds it. `referral_grace`, a wait of the engine's own rather than a legal period, may be
"0 days" (no wait). A bare length (schema 1) still reads as before.

Schema 3 names the file's procedure family (`family = "cnil"` or `"uk-ico"`, the modules of
enforcement.families), which says which periods the file must give (the schema marks none
required: each family does), and may give `[cutovers]`: the dates from which a transitional
provision applies, by name. Files of schema 1 and 2 run the `cnil` family whatever their
`family` says. Copies of older files kept in running workflows' inputs stay readable: every
field added since has a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from enforcement.law.calendars import Calendar, CalendarError, get_calendar
from enforcement.law.periods import Period, PeriodError, parse_period
from enforcement.law.timelimits import RULE_SETS, RuleSet

PROCEDURES_DIR = Path(os.environ.get(
    "ENFORCE_PROCEDURES_DIR", Path(__file__).resolve().parents[2] / "procedures"))


class ProcedureError(ValueError):
    """A missing or malformed procedure file; the message names the file and field."""


def _period(v: Any) -> str:
    try:
        return parse_period(v).text
    except PeriodError as exc:
        raise ValueError(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarParams(_Strict):
    country: str
    subdivision: str | None = None
    timezone: str | None = None


SCHEMAS = (1, 2, 3)
# A party's options, which end exercised or lapsed, when the file does not say (domain.md
# section 4): the appeal and the controller's observations.
DEFAULT_RIGHTS = frozenset({"appeal", "report_observations", "reply_observations",
                            "liquidation_observations"})

# The periods that become deadlines of a case (the others are minimums, extensions and
# waits): each ends as a right (exercised or lapsed) or an obligation (met or missed).
DEADLINE_PERIODS = ("complainant_progress", "information_response",
                    "formal_notice_compliance", "report_observations", "reply_observations",
                    "appeal", "liquidation_observations", "sanction_decision_limit")


class PeriodInfo(_Strict):
    """What a schema-2 file says of one period besides its length."""

    rules: str | None = None
    source: str = ""
    confirmed: bool | None = None
    practice: bool = False
    kind: Literal["right", "obligation"] | None = None
    holder: Literal["controller", "authority", "complainant"] | None = None

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: str | None) -> str | None:
        if v is not None and v not in RULE_SETS:
            raise ValueError(f"unknown rule set {v!r}; accepted: {', '.join(RULE_SETS)}")
        return v


# Periods that are waits of the engine's own, not legal periods: zero is allowed ("0 days").
WAITS = ("referral_grace",)
NO_WAIT = "0 days"
ZERO = re.compile(r"\s*0\s*(working\s+|calendar\s+)?days?\s*")


class Periods(_Strict):
    """Every period of the procedure, as period text ("2 months")."""

    complainant_progress: str | None = Field(
        default=None, description="complainant may go to court if not informed")
    information_response: str | None = Field(
        default=None, description="default answer period of a request")
    formal_notice_compliance: str | None = Field(
        default=None, description="default compliance period of a notice")
    formal_notice_minimum: str | None = Field(
        default=None, description="shortest compliance period allowed")
    report_observations: str | None = None
    reply_observations: str | None = None
    hearing_minimum_notice: str | None = None
    appeal: str | None = None
    appeal_abroad_extension: str | None = None
    appeal_overseas_extension: str | None = Field(
        default=None, description="for a controller in a French overseas territory (R421-7)")
    liquidation_observations: str | None = None
    sanction_decision_limit: str | None = Field(
        default=None, description="read from files before schema 3; no family uses it")
    representations_minimum: str | None = Field(
        default=None, description="shortest period for representations on a notice of intent")
    payment_minimum: str | None = Field(
        default=None, description="shortest period to pay a penalty")
    penalty_notice_limit: str | None = Field(
        default=None, description="after a notice of intent, the time to give the penalty")
    urgent_notice_minimum: str | None = Field(
        default=None, description="shortest time an urgent notice may give")
    referral_grace: str | None = Field(
        default=None, description="how long an automatic referral waits for a late record "
        "of a timely act (office practice, not law); none: it does not wait")

    @field_validator("*", mode="before")
    @classmethod
    def _valid(cls, v: Any, info: ValidationInfo) -> Any:
        if info.field_name in WAITS and isinstance(v, str) and ZERO.fullmatch(v):
            return NO_WAIT  # a wait may be none at all
        return None if v is None else _period(v)


class Reminders(_Strict):
    offsets_days: list[int] = Field(default_factory=lambda: [14, 3])

    @field_validator("offsets_days")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x <= 0 for x in v):
            raise ValueError("reminder offsets are days before the deadline, each at least 1")
        return sorted(set(v), reverse=True)


class Caps(_Strict):
    """Sanction ceilings: the higher of a fixed amount and a share of worldwide turnover."""

    fine_max: int = Field(gt=0)
    fine_turnover_pct: float = Field(ge=0, le=100)
    fine_lower_max: int | None = Field(default=None, gt=0)
    fine_lower_turnover_pct: float | None = Field(default=None, ge=0, le=100)
    penalty_per_day_max: int | None = Field(default=None, gt=0)

    def fine_cap(self, annual_turnover: int | None, lower_tier: bool = False) -> int:
        fixed, pct = self.fine_max, self.fine_turnover_pct
        if lower_tier and self.fine_lower_max is not None:
            fixed, pct = self.fine_lower_max, self.fine_lower_turnover_pct or 0.0
        if annual_turnover:
            return max(fixed, int(annual_turnover * pct / 100))
        return fixed


class Procedure(_Strict):
    schema_version: int = Field(default=1, alias="schema")
    family: str | None = None
    name: str
    title: str
    authority: str
    country: str
    currency: str = "EUR"
    rules: str
    calendar: CalendarParams
    periods: Periods
    reminders: Reminders = Field(default_factory=Reminders)
    caps: Caps
    refer_on_compliance_expiry: bool = True
    formal_notice_max_extensions: int = Field(default=1, ge=0)
    sources: list[str] = Field(default_factory=list)
    period_info: dict[str, PeriodInfo] = Field(default_factory=dict)
    cutovers: dict[str, date] = Field(
        default_factory=dict, description="dates from which a new rule applies (transitional "
        "provisions), by name; each family says which it reads")
    overseas_countries: list[str] = Field(
        default_factory=list, description="country codes of the authority's overseas "
        "territories, whose residents get appeal_overseas_extension instead of the abroad one")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _split_periods(cls, data: Any) -> Any:
        """Schema 2: a period given as a table becomes its length in `periods` and the rest
        in `period_info`."""
        if not isinstance(data, dict) or not isinstance(data.get("periods"), dict):
            return data
        periods, info = {}, dict(data.get("period_info") or {})
        for key, value in data["periods"].items():
            if isinstance(value, dict):
                value = dict(value)
                if "length" not in value:
                    raise ValueError(f"periods.{key}: a period table needs its 'length'")
                periods[key] = value.pop("length")
                info[key] = value
            else:
                periods[key] = value
        return {**data, "periods": periods, "period_info": info}

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, v: int) -> int:
        if v not in SCHEMAS:
            raise ValueError(f"schema {v} is not known; accepted: "
                             f"{', '.join(str(x) for x in SCHEMAS)}")
        return v

    @model_validator(mode="after")
    def _family_named(self) -> Procedure:
        if self.schema_version >= 3 and not self.family:
            raise ValueError("family: a schema-3 file names its procedure family")
        return self

    @model_validator(mode="after")
    def _info_names_periods(self) -> Procedure:
        unknown = sorted(set(self.period_info) - set(Periods.model_fields))
        if unknown:
            raise ValueError(f"periods: unknown period(s) {', '.join(unknown)}; accepted: "
                             f"{', '.join(Periods.model_fields)}")
        return self

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: str) -> str:
        if v not in RULE_SETS:
            raise ValueError(f"unknown rule set {v!r}; accepted: {', '.join(RULE_SETS)}")
        return v

    @property
    def rule_set(self) -> RuleSet:
        return RULE_SETS[self.rules]

    def rules_for(self, period: str) -> RuleSet:
        """The rule set a period is counted by: its own override, else the default."""
        info = self.period_info.get(period)
        return RULE_SETS[info.rules] if info is not None and info.rules else self.rule_set

    def wait(self, name: str) -> Period | None:
        """One of the engine's own waits (WAITS); None when it does not wait."""
        text = getattr(self.periods, name)
        return None if text is None or text == NO_WAIT else parse_period(text)

    def is_right(self, period: str) -> bool:
        """A party's option (exercised or lapsed), not an obligation (met or missed)."""
        info = self.period_info.get(period)
        if info is not None and info.kind is not None:
            return info.kind == "right"
        return period in DEFAULT_RIGHTS

    def practice_note(self, period: str) -> str | None:
        """The sentence an explanation adds for a period that is office practice."""
        info = self.period_info.get(period)
        if info is None or not info.practice:
            return None
        src = f" ({info.source})" if info.source else ""
        return (f"The {period.replace('_', ' ')} of {getattr(self.periods, period)} is "
                f"{self.name}'s office practice, not a rule of law{src}.")

    @property
    def cal(self) -> Calendar:
        c = self.calendar
        return get_calendar(c.country, c.subdivision, c.timezone)

    def period(self, name: str) -> Period:
        text = getattr(self.periods, name)
        if text is None:
            raise ProcedureError(f"procedure {self.name!r} has no period {name!r}")
        return parse_period(text)


def _format_validation(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return f"{path.name}: " + "; ".join(parts)


def load_procedure_file(path: Path) -> Procedure:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProcedureError(f"{path.name}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProcedureError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        proc = Procedure.model_validate(data)
    except ValidationError as exc:
        raise ProcedureError(_format_validation(path, exc)) from None
    if proc.name != path.stem:
        raise ProcedureError(f"{path.name}: name: {proc.name!r} must match the file name "
                             f"{path.stem!r}")
    try:
        proc.cal  # noqa: B018 - validates country, subdivision and time zone now
    except CalendarError as exc:
        raise ProcedureError(f"{path.name}: calendar: {exc}") from None
    return proc


@lru_cache(maxsize=1)
def _all(directory: str) -> dict[str, Procedure]:
    found = {}
    for path in sorted(Path(directory).glob("*.toml")):
        proc = load_procedure_file(path)
        found[proc.name] = proc
    return found


def all_procedures(directory: Path | None = None) -> dict[str, Procedure]:
    """Every file of the folder, read and validated as a file (enforcement.families checks
    each against its family: use its `all_procedures` and `get_procedure`)."""
    return _all(str(directory or PROCEDURES_DIR))
