"""The worker: `python worker.py`.

With TEMPORAL_ADDRESS unset it starts the embedded Temporal dev server (SQLite file under
var/, web UI on :8233, search attributes registered) and runs the worker against it; with it
set it connects to that cluster. JSON logs; clean shutdown on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import structlog
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.notify import Notifier
from activities.register import Register
from activities.register_db import make_engine, migrate
from activities.webhooks import WebhookPublisher
from enforcement.ops import metrics
from enforcement.ops.digest import Digest, ensure_digest_schedule
from enforcement.ops.logs import configure
from enforcement.ops.process import leave
from enforcement.ops.settings import Settings, get_settings
from enforcement.ops.temporal import connect, start_dev_server
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure
from workflows.digest import WeeklyDigest

log = structlog.get_logger("worker")


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    """The worker with every workflow and activity of the engine registered."""
    migrate(settings.database_url)
    register = Register(make_engine(settings.database_url))
    notifier = Notifier(register, settings)
    webhooks = WebhookPublisher(settings, register=register)
    return Worker(client, task_queue=settings.task_queue,
                  workflows=[EnforcementCase, SanctionProcedure, WeeklyDigest],
                  activities=[register.record, notifier.deliver, webhooks.publish,
                              Digest(settings).send],
                  activity_executor=executor, workflow_runner=workflow_runner(),
                  max_concurrent_activities=settings.activity_threads)


async def start_schedules(client: Client, settings: Settings) -> None:
    """The weekly digest's schedule, created when absent (ENFORCE_DIGEST_SCHEDULE=false:
    not); a failure is logged, never fatal: cases run without it."""
    if not settings.digest_schedule:
        return
    try:
        if await ensure_digest_schedule(client, settings):
            log.info("weekly digest scheduled", weekday=settings.digest_weekday,
                     hour=settings.digest_hour, timezone=settings.digest_timezone)
    except Exception as exc:
        log.warning("weekly digest not scheduled", error=str(exc))


@contextlib.asynccontextmanager
async def register_gauges(settings: Settings, runtime: Runtime | None) -> AsyncIterator[None]:
    """The cases-by-stage gauge, read from the register while the block runs."""
    register = Register(make_engine(settings.database_url))
    try:
        async with metrics.case_gauges(settings, runtime, register.stage_counts):
            yield
    finally:
        register.engine.dispose()


async def main() -> None:
    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runtime = metrics.install(settings)
    except metrics.MetricsUnavailable as exc:
        log.error("worker not started", error=str(exc))
        raise SystemExit(2) from None
    env = None
    if settings.temporal_address is None:
        log.info("starting embedded Temporal dev server", db=str(settings.dev_server_db),
                 ui=f"http://127.0.0.1:{settings.dev_server_ui_port}")
        env = await start_dev_server(settings)
        client = env.client
    else:
        client = await connect(settings)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
        worker = build_worker(client, settings, executor)
        log.info("worker started", task_queue=settings.task_queue,
                 temporal=settings.temporal_address or f"127.0.0.1:{settings.dev_server_port}",
                 register=settings.database_url.split("@")[-1])
        async with worker, register_gauges(settings, runtime):
            await start_schedules(client, settings)
            await stop.wait()
            log.info("shutting down")
    if env is not None:
        await env.shutdown()
    log.info("stopped")


if __name__ == "__main__":
    try:
        asyncio.run(main())
        exit_code = 0
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else 1
    leave(exit_code)
