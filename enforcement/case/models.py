"""The contract users see (domain.md section 4): events, deadline records, case status, and
what the workflows hand to activities. One pydantic model in and one out everywhere, so the
CLI, the API, the workflows and the register all validate the same way.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from enforcement.law.periods import PeriodError, parse_period


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_period(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        return parse_period(v).text
    except PeriodError as exc:
        raise ValueError(str(exc)) from None


def _moment(v: Any) -> Any:
    """A bare date stays a date; anything with a time stays a date-time, even at midnight
    (pydantic alone would read "2022-07-15T00:00:00+02:00" as the date 2022-07-15)."""
    if isinstance(v, str):
        text = v.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("a date (2022-07-14) or a date-time with its offset "
                             "(2022-07-15T18:00+02:00)") from None
    return v


# What the published schema promises, so that every value it allows is accepted (the API
# fuzzing checks it): the engine counts in the years 1950-2150; the schema publishes dates
# of 1950-2099, from which any period it allows stays within them.
_YEAR = r"(?:19[5-9]\d|20\d\d)"
_MONTH_DAY = r"(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])"  # every month has these days
DAY_PATTERN = rf"^{_YEAR}-{_MONTH_DAY}$"
INSTANT_PATTERN = (rf"^{_YEAR}-{_MONTH_DAY}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
                   r"(?:Z|[+-](?:0\d|1[0-3]):[0-5]\d)$")
_DAY_SCHEMA = {"type": "string", "format": "date", "pattern": DAY_PATTERN}
_INSTANT_SCHEMA = {"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN}


def _period_pattern() -> str:
    """The period forms the schema publishes: each calendar unit at most once, largest
    first, or hours or working days alone, within the engine's maxima (periods.py)."""
    units = [(r"(?:[1-9]|10)", "years?"), (r"(?:[1-9]\d?|1[01]\d|120)", "months?"),
             (r"[1-9]\d?", "weeks?"), (r"[1-9]\d{0,2}", "days?")]
    forms = [" ".join(f"{n} {u}" for n, u in combo)
             for k in range(1, len(units) + 1) for combo in itertools.combinations(units, k)]
    forms += [r"[1-9]\d{0,3} hours?", r"[1-9]\d{0,2} working days?"]
    return "^(?:" + "|".join(forms) + ")$"


PERIOD_PATTERN = _period_pattern()

Day = Annotated[date, WithJsonSchema(_DAY_SCHEMA)]
Moment = Annotated[date | datetime, BeforeValidator(_moment),
                   WithJsonSchema({"anyOf": [_DAY_SCHEMA, _INSTANT_SCHEMA]})]

# Control characters other than tab and line breaks: no reader needs them, and PostgreSQL
# cannot store a NUL (the register would refuse the case's writes).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL = re.compile(f"[{CONTROL}]")


# an address: no space or control character, one @ (the spaces listed, not \s, whose
# meaning differs between the regex engines that read the schema)
_SPACE = r"\t\n\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL = rf"^[^@{_SPACE}{CONTROL}]+@[^@{_SPACE}{CONTROL}]+$"


def _printable(name: str, value: object) -> None:
    texts = value if isinstance(value, list) else [value]
    for i, text in enumerate(texts):
        if isinstance(text, str) and (found := _CONTROL.search(text)) is not None:
            where = f"{name}[{i}]" if isinstance(value, list) else name
            raise ValueError(f"{where} contains the control character U+{ord(found[0]):04X} "
                             f"at position {found.start()}; accepted: printable text, tabs "
                             "and line breaks")


def _exactly_one(a: str, b: str) -> dict[str, Any]:
    """The schema of "either `a` or `b`, not both" (both default to null)."""
    def only(given: str, absent: str) -> dict[str, Any]:
        return {"required": [given], "properties": {given: {"not": {"type": "null"}},
                                                    absent: {"type": "null"}}}
    return {"oneOf": [only(a, b), only(b, a)]}


def _printable_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    """Publish the rules in the schema: every free-text property gets the pattern, and a
    model's rules across fields (SCHEMA_RULES) are added."""
    schema.update(getattr(cls, "SCHEMA_RULES", {}))
    def mark(prop: dict[str, Any]) -> None:
        if prop.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(prop):
            prop["pattern"] = f"^[^{CONTROL}]*$"
        elif prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            mark(prop["items"])
        for alt in prop.get("anyOf", ()):
            mark(alt)
    for prop in schema.get("properties", {}).values():
        mark(prop)


class _Input(_Model):
    """What users type: no control character in any text (tab and line breaks aside)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_printable_schema)

    @model_validator(mode="after")
    def _no_control_characters(self) -> Any:
        for name, value in self.__dict__.items():
            if isinstance(value, (str, list)):  # text, or a list of texts
                _printable(name, value)
        return self
PeriodText = Annotated[str, Field(min_length=1, max_length=64,
                                  json_schema_extra={"pattern": PERIOD_PATTERN},
                                  description="a legal period such as '2 months'")]


Language = Literal["fr", "en"]

# Upper bounds of amounts, far above any real one and far below what the register stores
# (64-bit integers) once multiplied out: a turnover above any undertaking's, a fine above
# any cap that turnover allows, a daily penalty that stays storable over a century.
MAX_TURNOVER_EUR = 10**13
MAX_AMOUNT_EUR = 10**12
MAX_PER_DAY_EUR = 10**9
# Text a person reads (a measure of a formal notice), and the history a case may be opened
# with: the opening is checked event by event, within one workflow task.
MAX_TEXT = 1000
MAX_OPENING_EVENTS = 100


class Controller(_Input):
    """The organisation under procedure."""

    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2",
                         json_schema_extra={"pattern": "^[A-Za-z]{2}$"})
    annual_turnover_eur: int | None = Field(default=None, ge=0, le=MAX_TURNOVER_EUR)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL,
                              description="where the controller's notices are sent")
    language: Language = "fr"

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        if not re.fullmatch("[A-Za-z]{2}", v):
            raise ValueError("a two-letter ISO country code such as FR or US")
        return v.upper()


class _Event(_Input):
    date: Moment = Field(
        description="a date (taken as 12:00 in the procedure's zone) or an aware date-time")
    id: str | None = Field(default=None, max_length=200,
                           description="events with the same id are applied once")

    @field_validator("date")
    @classmethod
    def _aware(cls, v: Moment) -> Moment:
        if isinstance(v, datetime) and v.tzinfo is None:
            raise ValueError("a date-time must carry its offset (2022-07-15T18:00+02:00); "
                             "or give a bare date")
        return v


class ComplaintReceived(_Event):
    type: Literal["complaint_received"]
    subject: str = Field(min_length=1, max_length=500)
    complainant_ref: str = Field(min_length=1, max_length=100, description="pseudonymous")


class InvestigationOpened(_Event):
    type: Literal["investigation_opened"]
    kind: Literal["on_site", "documents", "online"]


class InformationRequested(_Event):
    type: Literal["information_requested"]
    period: PeriodText | None = None
    _p = field_validator("period")(_check_period)


class InformationProvided(_Event):
    type: Literal["information_provided"]


class NoBreachFound(_Event):
    type: Literal["no_breach_found"]


class FormalNoticeIssued(_Event):
    type: Literal["formal_notice_issued"]
    period: PeriodText | None = None
    measures: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] = Field(
        default_factory=list, max_length=50)
    _p = field_validator("period")(_check_period)


class ExtensionGranted(_Event):
    SCHEMA_RULES: ClassVar[dict[str, Any]] = _exactly_one("period", "until")
    type: Literal["extension_granted"]
    deadline: str = Field(min_length=1, max_length=64)
    period: PeriodText | None = None
    until: Day | None = None
    _p = field_validator("period")(_check_period)

    @model_validator(mode="after")
    def _one_of(self) -> ExtensionGranted:
        if (self.period is None) == (self.until is None):
            raise ValueError("extension_granted takes either 'period' or 'until', not both")
        return self


class ComplianceEvidenceSubmitted(_Event):
    type: Literal["compliance_evidence_submitted"]
    ref: str = Field(default="", max_length=200)


class ComplianceAccepted(_Event):
    type: Literal["compliance_accepted"]


class ComplianceRejected(_Event):
    type: Literal["compliance_rejected"]


class CaseSuspended(_Event):
    type: Literal["case_suspended"]
    reason: str = Field(default="", max_length=500)


class CaseResumed(_Event):
    type: Literal["case_resumed"]
    reason: str = Field(default="", max_length=500)


class RapporteurDesignated(_Event):
    type: Literal["rapporteur_designated"]


class ReportNotified(_Event):
    type: Literal["report_notified"]


class ObservationsSubmitted(_Event):
    type: Literal["observations_submitted"]


class RapporteurReplied(_Event):
    type: Literal["rapporteur_replied"]


class HearingScheduled(_Event):
    type: Literal["hearing_scheduled"]
    hearing_date: Day


class HearingHeld(_Event):
    type: Literal["hearing_held"]


class SanctionDecided(_Event):
    SCHEMA_RULES: ClassVar[dict[str, Any]] = {"anyOf": [
        {"properties": {"penalty_per_day_eur": {"maximum": 0}}},
        {"required": ["injunction_period"],
         "properties": {"injunction_period": {"type": "string"}}}]}
    type: Literal["sanction_decided"]
    fine_eur: int = Field(default=0, ge=0, le=MAX_AMOUNT_EUR)
    injunction_period: PeriodText | None = None
    penalty_per_day_eur: int = Field(default=0, ge=0, le=MAX_PER_DAY_EUR)
    publish: bool = False
    lower_tier: bool = Field(default=False, description="GDPR 83(4) list: lower ceilings")
    _p = field_validator("injunction_period")(_check_period)

    @model_validator(mode="after")
    def _penalty_needs_injunction(self) -> SanctionDecided:
        if self.penalty_per_day_eur and not self.injunction_period:
            raise ValueError("a daily penalty needs an 'injunction_period' to run after")
        return self


class DecisionNotified(_Event):
    type: Literal["decision_notified"]


class AppealLodged(_Event):
    type: Literal["appeal_lodged"]
    court: str = Field(default="Conseil d'État", max_length=200)


class ComplianceEstablished(_Event):
    type: Literal["compliance_established"]


class LiquidationOpened(_Event):
    type: Literal["liquidation_opened"]
    cutoff: Day


class PenaltyLiquidated(_Event):
    type: Literal["penalty_liquidated"]
    amount_eur: int | None = Field(default=None, ge=0, le=MAX_AMOUNT_EUR)


class CaseClosed(_Event):
    type: Literal["case_closed"]
    reason: str = Field(default="", max_length=500)


Reason = Annotated[str, Field(min_length=3, max_length=1000,
                              description="why: kept in the register with the change")]


class ReferralUndone(_Event):
    """The regulator takes back a referral the engine made by itself (the formal notice ran
    out unanswered), when a timely act was recorded too late to prevent it."""

    type: Literal["referral_undone"]
    reason: Reason


class _Correction(_Event):
    SCHEMA_RULES: ClassVar[dict[str, Any]] = _exactly_one("seq", "event_id")
    seq: int | None = Field(default=None, ge=1, description="the number of the event (its "
                            "`seq` in the timeline and the register)")
    event_id: str | None = Field(default=None, max_length=200,
                                 description="or the id it was sent with")
    reason: Reason

    @model_validator(mode="after")
    def _one_target(self) -> _Correction:
        if (self.seq is None) == (self.event_id is None):
            raise ValueError(f"{getattr(self, 'type', 'a correction')} names the event it "
                             "changes by 'seq' or by 'event_id', one of the two")
        return self


class EventCorrected(_Correction):
    """An event recorded by mistake, replaced by the right one: the case becomes what it
    would have been had the right event been recorded when the wrong one was."""

    type: Literal["event_corrected"]
    corrected: Event = Field(description="the event as it should have been recorded")

    @field_validator("corrected")
    @classmethod
    def _not_a_correction(cls, v: Any) -> Any:
        if v.type in CORRECTIONS:
            raise ValueError("a correction replaces an event of the procedure, not another "
                             "correction; correct the original event instead")
        return v


class EventWithdrawn(_Correction):
    """An event recorded by mistake, taken out: the case becomes what it would have been
    without it."""

    type: Literal["event_withdrawn"]


# --- the UK ICO's notices (enforcement.families.uk_ico) ---------------------------------------

class InformationNoticeGiven(_Event):
    """DPA 2018 s. 142: the period to answer is the notice's own (no default)."""

    type: Literal["information_notice_given"]
    period: PeriodText
    urgent: bool = Field(default=False, description="stated urgent with reasons (s. 142(7))")
    _p = field_validator("period")(_check_period)


class EnforcementNoticeGiven(_Event):
    """DPA 2018 s. 149-150: the steps required and the period to take them."""

    type: Literal["enforcement_notice_given"]
    period: PeriodText
    measures: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] = Field(
        default_factory=list, max_length=50)
    urgent: bool = Field(default=False, description="stated urgent with reasons (s. 150(8))")
    _p = field_validator("period")(_check_period)


class NoticeOfIntentGiven(_Event):
    """DPA 2018 Sch. 16 para 2-3: the period for representations (at least 21 days)."""

    type: Literal["notice_of_intent_given"]
    period: PeriodText | None = Field(
        default=None, description="for representations; none: the statutory minimum")
    _p = field_validator("period")(_check_period)


class RepresentationsMade(_Event):
    type: Literal["representations_made"]
    oral: bool = False


class PenaltyNoticeGiven(_Event):
    """DPA 2018 s. 155 and Sch. 16 para 4-6: the amount, in the procedure's currency, and the
    period to pay it (at least 28 days)."""

    type: Literal["penalty_notice_given"]
    amount: int = Field(ge=1, le=MAX_AMOUNT_EUR)
    payment_period: PeriodText | None = Field(
        default=None, description="none: the statutory minimum")
    lower_tier: bool = Field(default=False, description="the standard maximum (s. 157(6))")
    _p = field_validator("payment_period")(_check_period)


class NoPenaltyNoticeGiven(_Event):
    """DPA 2018 Sch. 16 para 4(A2)(b): the Commissioner decided not to give a penalty."""

    type: Literal["no_penalty_notice_given"]


class PenaltyPaid(_Event):
    type: Literal["penalty_paid"]


Event = Annotated[
    ComplaintReceived | InvestigationOpened | InformationRequested | InformationProvided
    | NoBreachFound | FormalNoticeIssued | ExtensionGranted | ComplianceEvidenceSubmitted
    | ComplianceAccepted | ComplianceRejected | CaseSuspended | CaseResumed
    | RapporteurDesignated | ReportNotified | ObservationsSubmitted | RapporteurReplied
    | HearingScheduled | HearingHeld | SanctionDecided | DecisionNotified | AppealLodged
    | ComplianceEstablished | LiquidationOpened | PenaltyLiquidated | CaseClosed
    | ReferralUndone | InformationNoticeGiven | EnforcementNoticeGiven | NoticeOfIntentGiven
    | RepresentationsMade | PenaltyNoticeGiven | NoPenaltyNoticeGiven | PenaltyPaid
    | EventCorrected | EventWithdrawn,
    Field(discriminator="type"),
]
CORRECTIONS = ("event_corrected", "event_withdrawn")
EventCorrected.model_rebuild()
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: tuple[str, ...] = tuple(
    m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for m in (*_Event.__subclasses__(), *_Correction.__subclasses__())
    if m is not _Correction)


Role = Literal["regulator", "controller", "viewer"]  # the API's token roles


class EventInput(_Model):
    """One event sent to a case (update or signal payload)."""

    case_id: str
    event: Event
    recorded_by: str | None = Field(
        default=None, max_length=200, description="who records it: the API token's holder, "
        "the console user, the CLI's operator (set by the interface, never by the caller)")
    role: Role | None = Field(
        default=None, description="the sender's role, set by the interface (None: the "
        "authority's own tools): a controller's event ids are its own, so that it can never "
        "take one the authority will use")


# --- records ------------------------------------------------------------------------------

# Obligations end met or missed; a party's rights (the appeal, the controller's observations)
# end exercised or lapsed: not using a right is no failure.
DeadlineStatus = Literal["pending", "met", "missed", "exercised", "lapsed", "extended",
                         "cancelled"]


class StatusChange(_Model):
    """A deadline's status changed after the fact by a late record of a timely act: the
    change is kept beside the record, never rewritten."""

    status: DeadlineStatus = Field(description="the status it had before")
    to: DeadlineStatus = Field(description="the status it has since")
    recorded_at: datetime = Field(description="when the late record arrived")
    recorded_by: str | None = None
    reason: str


class DeadlineRecord(_Model):
    name: str
    trigger_date: str
    period: str
    due: str
    expires_at: datetime
    status: DeadlineStatus = "pending"
    explanation: list[str]
    seq: int = Field(default=0, description="position among the case's deadlines")
    raw_end: str = Field(default="", description="last day before any roll")
    opened_at: datetime | None = None
    rules: str = Field(default="", description="the rule set it was counted by")
    history: list[StatusChange] = Field(default_factory=list,
                                        description="status changes made by late records")


class TimelineEntry(_Model):
    date: str = Field(description="the legal date: when it took effect")
    kind: Literal["event", "deadline", "reminder", "notification", "outcome"]
    name: str
    detail: str = ""
    recorded_at: datetime | None = Field(default=None, description="when the engine "
                                         "recorded it (events and the engine's own steps)")
    recorded_by: str | None = Field(default=None, description="who recorded it; 'engine' "
                                    "for the engine's own steps")
    seq: int | None = Field(default=None, description="an event's number: what a "
                            "correction or withdrawal names")


class SanctionFigures(_Model):
    fine_eur: int = 0
    penalty_per_day_eur: int = 0
    penalty_days: int = 0
    penalty_eur: int = 0
    liquidated_eur: int | None = None
    intended_liquidation_eur: int | None = None
    publish: bool = False
    injunction: bool = False


# "failed": the workflow ended without closing the case; an operator must act.
CaseLife = Literal["open", "closed", "failed"]


class CaseStatus(_Model):
    """What a status query, the simulation and the register show of a case."""

    case_id: str
    procedure: str
    status: CaseLife = "open"
    stage: str
    outcome: str | None = None
    failure: str | None = Field(default=None, description="status 'failed': why the engine "
                                "stopped the case without closing it (its workflow failed, "
                                "was terminated or timed out); no deadline of it runs")
    controller: Controller
    subject: str = ""
    alerts: list[str] = Field(default_factory=list, description="what an operator must "
                              "fix while the case goes on, such as register writes the "
                              "register refused (held by the case and retried)")
    deadlines: list[DeadlineRecord] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    sanction: SanctionFigures = Field(default_factory=SanctionFigures)
    next_deadline: datetime | None = None
    workflow_id: str = ""
    accepted: list[str] = Field(default_factory=list, description="the events the case "
                                "accepts now: its stage's, those accepted at any stage, and "
                                "those its history allows (a referral's undo, corrections)")


class CaseInput(_Input):
    """Opens a case: who it concerns, under which procedure, and its first events."""

    case_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                         json_schema_extra={"pattern": r"^[._:-]*[A-Za-z0-9][A-Za-z0-9._:-]*$"})

    @field_validator("case_id")
    @classmethod
    def _addressable(cls, v: str) -> str:
        if not any(c.isalnum() for c in v):
            raise ValueError("a case id needs a letter or a digit (such as MED-2021-134): "
                             "one made only of '.', '-', '_' or ':' cannot be addressed")
        return v
    procedure: str = "fr-cnil"
    controller: Controller
    complainant_ref: str | None = Field(default=None, max_length=100)
    complainant_email: str | None = Field(default=None, max_length=254,
                                          pattern=EMAIL)
    complainant_language: Language = "fr"
    subject: str = Field(default="", max_length=500)
    events: list[Event] = Field(default_factory=list, max_length=MAX_OPENING_EVENTS,
                                description="the case's history so far, at most "
                                f"{MAX_OPENING_EVENTS} events; later ones are sent one by one")

    @field_validator("events", mode="before")
    @classmethod
    def _few_enough(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > MAX_OPENING_EVENTS:
            raise ValueError(f"a case opens with at most {MAX_OPENING_EVENTS} events "
                             f"({len(v)} given); send later ones one by one to the open case")
        return v


# --- what workflows hand to activities ----------------------------------------------------

Party = Literal["controller", "complainant", "case_handler"]


class Notification(_Model):
    """One message to one party; `key` is the idempotency key `case_id:step`."""

    key: str
    case_id: str
    party: Party
    template: str
    subject: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    to: str | None = Field(default=None, description="address; None: the configured one "
                                                     "(the case handler's)")
    language: Language = "en"

    def entry(self) -> RegisterEntry:
        """The notification as a register row (channel "register", status "recorded")."""
        return RegisterEntry(
            key=self.key, table="notifications", case_id=self.case_id, at=self.at,
            data={"party": self.party, "template": self.template, "subject": self.subject,
                  "data": self.data})


class RegisterEntry(_Model):
    """One row of the outcome register, keyed `case_id:step` so a retry records it once."""

    key: str
    table: Literal["cases", "events", "deadlines", "decisions", "notifications"]
    case_id: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class RegisterBatch(_Model):
    """Rows written in one transaction: everything one transition of a case produced."""

    case_id: str
    entries: list[RegisterEntry]


class LoggedEvent(_Model):
    """An event as the case applied it, kept so that a correction can recompute the case:
    its number, when and by whom it was recorded, and what corrections did to it (the
    earlier versions stay beside it)."""

    n: int
    event: Event
    recorded_at: datetime
    recorded_by: str | None = None
    opening: bool = Field(default=False, description="came with the case's opening")
    withdrawn: bool = False
    earlier: list[Event] = Field(default_factory=list, description="versions before "
                                 "corrections, oldest first")
    changed_by: list[int] = Field(default_factory=list, description="the corrections' "
                                  "numbers")


class ScriptedEvent(_Model):
    """An event to deliver at an instant of case time (simulations and tests)."""

    at: datetime
    event: Event
