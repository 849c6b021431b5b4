"""The bare workflow of benchmarks/simulate.py: as many timers and activities as a simulated
case, and nothing else (no case logic, no signals, no-op activities)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
def noop(i: int) -> int:
    return i


@workflow.defn(name="BareLifecycle")
class BareLifecycle:
    """`timers` timers 30 days apart; after each, a share of the `activities`: one, then the
    rest of the share together (as a case records a transition, then notifies)."""

    @workflow.run
    async def run(self, counts: list[int]) -> int:
        timers, activities = counts
        per, extra = divmod(activities, max(timers, 1))
        done = 0
        for t in range(timers):
            await workflow.sleep(timedelta(days=30))
            n = per + (1 if t < extra else 0)
            if n:
                await workflow.execute_activity(
                    "bench.noop", 0, start_to_close_timeout=timedelta(seconds=30),
                    result_type=int)
            if n > 1:
                await asyncio.gather(*(workflow.execute_activity(
                    "bench.noop", i, start_to_close_timeout=timedelta(seconds=30),
                    result_type=int) for i in range(n - 1)))
            done += n
        return done
