"""Temporal environments for tests: the time-skipping test server and the dev server, both
from their registry packages (nothing downloaded), and a worker on a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest
import pytest_asyncio
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import Notifier
from activities.register import Register
from activities.webhooks import WebhookPublisher
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import SEARCH_KEYS, binary
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure
from workflows.driver import EventDriver

# Virtual time the check after each test asks for, and how long (real time) it may take on
# a server with nothing open: instantly, unless something still holds virtual time.
PROBE_SLEEP = timedelta(hours=1)
PROBE_TIMEOUT = timedelta(seconds=20)


async def start_time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"))


class SharedTimeSkipping:
    """The session's time-skipping server, started on first use and replaced when a test
    left it unusable."""

    def __init__(self) -> None:
        self.env: WorkflowEnvironment | None = None

    async def get(self) -> WorkflowEnvironment:
        if self.env is None:
            self.env = await start_time_skipping()
        return self.env

    async def discard(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            await env.shutdown()


async def open_workflow_ids(client: Client) -> list[str]:
    """The ids of the workflows still open on the server."""
    ids: list[str] = []
    token = b""
    while True:
        resp = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(namespace=client.namespace,
                                              maximum_page_size=1000, next_page_token=token))
        ids += [e.execution.workflow_id for e in resp.executions]
        token = resp.next_page_token
        if not token:
            return ids


async def terminate_open_workflows(client: Client) -> list[str]:
    """Terminate every open workflow; their ids (a child its parent took along is skipped)."""
    ids = await open_workflow_ids(client)
    for workflow_id in ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test over")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return ids


async def virtual_time_moves(env: WorkflowEnvironment) -> bool:
    """Whether the server still skips time: with nothing open, an hour of virtual time
    passes at once."""
    req = SleepRequest()
    req.duration.FromTimedelta(PROBE_SLEEP)
    try:
        await env.client.test_service.unlock_time_skipping_with_sleep(req, timeout=PROBE_TIMEOUT)
    except RPCError:
        return False
    return True


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_server() -> AsyncIterator[SharedTimeSkipping]:
    shared = SharedTimeSkipping()
    yield shared
    await shared.discard()


@pytest_asyncio.fixture(loop_scope="session")
async def ts_env(ts_server: SharedTimeSkipping) -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server, handed on as the test found it: no workflow open
    and virtual time free to move.

    The server holds virtual time while any workflow task or activity is outstanding, and
    does not let go of it when their workflow is terminated (nor when no worker is left to
    take them). A test that ends with a case mid-task would leave every later `env.sleep`
    waiting in real time. So after each test the workflows still open are terminated and
    virtual time is checked; a server that no longer skips time is replaced by a fresh one,
    and the test that left it so errors at teardown."""
    env = await ts_server.get()
    yield env
    left = await terminate_open_workflows(env.client)
    if not await virtual_time_moves(env):
        await ts_server.discard()
        pytest.fail("the time-skipping server no longer skipped time after this test (a "
                    "workflow was terminated, or its worker stopped, in the middle of a task; "
                    f"left open: {left}); later tests get a fresh server", pytrace=False)


def days_ago(n: int) -> str:
    """A recent date, for cases on the dev server's real clock: their deadlines must still
    be ahead whenever the suite runs."""
    return (date.today() - timedelta(days=n)).isoformat()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server (in memory) with the engine's search attributes, for tests that run
    real worker processes against it."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS,
        dev_server_existing_path=binary("temporal"))
    yield env
    await env.shutdown()


@asynccontextmanager
async def running_worker(client: Client, register: Register,
                         task_queue: str | None = None,
                         settings: Settings | None = None) -> AsyncIterator[str]:
    """A worker with the engine's workflows and activities on a fresh task queue (or on
    `task_queue`, to pick up workflows started earlier). With `settings`, notifications are
    emailed and webhooks posted as those settings say; without, they are only recorded."""
    task_queue = task_queue or f"tq-{uuid.uuid4().hex[:8]}"
    notifier = Notifier(register, settings)
    webhooks = WebhookPublisher(settings, register=register)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(client, task_queue=task_queue,
                          workflows=[EnforcementCase, SanctionProcedure, EventDriver],
                          activities=[register.record, notifier.deliver, webhooks.publish],
                          activity_executor=executor, workflow_runner=workflow_runner()):
            yield task_queue
