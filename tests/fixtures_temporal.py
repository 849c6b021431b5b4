"""Temporal environments for tests: the time-skipping test server and the dev server, both
from their registry packages (nothing downloaded), and a worker on a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import Notifier
from activities.register import Register
from activities.webhooks import WebhookPublisher
from enforcement.settings import Settings
from enforcement.temporal import SEARCH_KEYS, binary
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure
from workflows.driver import EventDriver


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"))
    yield env
    await env.shutdown()


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
