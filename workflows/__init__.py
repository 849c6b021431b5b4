"""Temporal workflows of the engine."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# The calendar data comes from `holidays` (and dateutil under it), imported lazily per year;
# both are deterministic and are shared with the host rather than re-imported per run.
PASSTHROUGH = ("holidays", "dateutil", "six", "enforcement", "pydantic", "zoneinfo")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker of the engine uses."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
