"""Metrics for Prometheus: the Temporal SDK's own, and the engine's beside them.

With ENFORCE_METRICS_ADDRESS set (`host:port`), the worker (`python worker.py`, or `make
run`) serves http://host:port/metrics from the SDK's Prometheus exporter. Besides the SDK's
metrics (`temporal_workflow_task_*`, `temporal_activity_*`, `temporal_request*`, ...), the
same endpoint carries the engine's:

- `enforcement_cases{stage, status}` (gauge): cases in the register by stage and status, read
  from the register every ENFORCE_METRICS_INTERVAL_SECONDS (15 by default). Every worker of
  a deployment reads the same register, so take the max across workers, not the sum.
- `enforcement_deadlines_missed_total{deadline, procedure}`: obligations that expired unmet
  (a party's right that lapses unused is no failure and is not counted).
- `enforcement_deadline_corrections_total{deadline, procedure}`: deadlines whose status a
  late record of a timely act changed (missed to met, lapsed to exercised); the missed
  counter keeps its count, since counters never go down.
- `enforcement_notifications_failed_total{template, party}`: notifications that could not be
  delivered for good (a refused address, a message that cannot be written); transient
  failures are retried and show in the SDK's activity metrics.
- `enforcement_event_rejections_total{event_type, stage}`: events a case refused (updates,
  signals and scripted events alike).

The counters are counted by the workflows through the SDK's workflow metric meter, which
counts nothing while a workflow replays: a worker that restarts does not count twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from enforcement.ops.settings import Settings

CASES = "enforcement_cases"
DEADLINES_MISSED = "enforcement_deadlines_missed"
DEADLINE_CORRECTIONS = "enforcement_deadline_corrections"
NOTIFICATIONS_FAILED = "enforcement_notifications_failed"
EVENT_REJECTIONS = "enforcement_event_rejections"
REGISTER_REFUSALS = "enforcement_register_refusals"
DESCRIPTIONS = {
    CASES: "cases in the register by stage and status",
    DEADLINES_MISSED: "deadlines that expired unmet",
    DEADLINE_CORRECTIONS: "deadline statuses changed by a late record of a timely act",
    NOTIFICATIONS_FAILED: "notifications that could not be delivered for good",
    EVENT_REJECTIONS: "events a case refused",
    REGISTER_REFUSALS: "register writes refused for good: held by the case, shown in its "
                       "status as an alert, retried with its next write",
}

log = structlog.get_logger("metrics")


class MetricsUnavailable(ValueError):
    """ENFORCE_METRICS_ADDRESS cannot be served; the message says why and what to set."""


def install(settings: Settings) -> Runtime | None:
    """Make this process's Temporal runtime export Prometheus metrics at
    ENFORCE_METRICS_ADDRESS; the runtime, or None when metrics are off. Call it once, before
    the first client connects (every client of the process then shares the endpoint)."""
    if not settings.metrics_address:
        return None
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=settings.metrics_address, counters_total_suffix=True)))
    except ValueError as exc:  # a busy port or a malformed address
        raise MetricsUnavailable(
            f"cannot serve metrics on {settings.metrics_address!r}: {exc}; set "
            f"ENFORCE_METRICS_ADDRESS to a free host:port such as 127.0.0.1:9464, or unset "
            f"it") from None
    Runtime.set_default(runtime, error_if_already_set=False)
    log.info("metrics endpoint", url=f"http://{settings.metrics_address}/metrics")
    return runtime


StageCounts = Callable[[], dict[tuple[str, str], int]]


@contextlib.asynccontextmanager
async def case_gauges(settings: Settings, runtime: Runtime | None,
                      stage_counts: StageCounts) -> AsyncIterator[None]:
    """While the block runs, keep `enforcement_cases` up to date from `stage_counts` (the
    register's cases by stage and status; nothing when metrics are off)."""
    if runtime is None:
        yield
        return
    task = asyncio.create_task(_export_cases(stage_counts, settings.metrics_interval_seconds,
                                             runtime.metric_meter))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _export_cases(stage_counts: StageCounts, every: float, meter: MetricMeter) -> None:
    gauge = meter.create_gauge(CASES, DESCRIPTIONS[CASES])
    seen: set[tuple[str, str]] = set()
    while True:
        try:
            counts = await asyncio.to_thread(stage_counts)
        except Exception as exc:  # the register unreachable for a while: try again later
            log.warning("metrics.cases_unavailable", error=f"{type(exc).__name__}: {exc}")
        else:
            for stage, status in seen - counts.keys():  # gone from a stage: 0, not stale
                gauge.set(0, {"stage": stage, "status": status})
            for (stage, status), n in counts.items():
                gauge.set(n, {"stage": stage, "status": status})
            seen |= counts.keys()
        await asyncio.sleep(every)
