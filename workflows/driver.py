"""Delivers scripted events to a case at their dates: simulation and tests drive the real
case workflows with it on the time-skipping server (design.md: one actor per case, then one
long sleep of the environment)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from enforcement.case.models import EventInput, ScriptedEvent

__all__ = ["EventDriver", "EventScript", "ScriptedEvent"]


class EventScript(BaseModel):
    case_id: str
    events: list[ScriptedEvent]
    clock_offset_seconds: float = 0.0


@workflow.defn
class EventDriver:
    """Sleeps until each event's instant (in case time) and signals the case with it."""

    @workflow.run
    async def run(self, script: EventScript) -> int:
        offset = timedelta(seconds=script.clock_offset_seconds)
        sent = 0
        for item in sorted(script.events, key=lambda x: x.at):
            delay = item.at - (workflow.now() + offset)
            if delay > timedelta(0):
                await workflow.sleep(delay)
            try:
                await workflow.get_external_workflow_handle(script.case_id).signal(
                    "event", EventInput(case_id=script.case_id, event=item.event))
            except Exception as exc:  # the case has ended: nothing left to deliver to
                workflow.logger.info("case no longer accepts signals",
                                     extra={"case_id": script.case_id, "reason": str(exc)})
                break
            sent += 1
        return sent
