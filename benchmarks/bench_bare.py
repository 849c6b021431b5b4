"""The bare workflows of the benchmarks: `BareLifecycle` (benchmarks/simulate.py) has as
many timers and activities as a simulated case, and nothing else (no case logic, no
signals, no-op activities); `BareCase` (benchmarks/events.py) takes events by update as a
case does, and writes one SQLite row per activity."""

from __future__ import annotations

import asyncio
import math
from datetime import date, timedelta

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import sqlite3
    import threading


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


# --- benchmarks/events.py: a bare workflow with an update handler of the case's shape ----

class BareEvent(BaseModel):
    """What `BareCase`'s update takes: an event of a case, with its id."""

    case_id: str
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)
    date: date


class BareAck(BaseModel):
    """What it answers: the event's number in its case."""

    case_id: str
    seq: int


class BareStart(BaseModel):
    case_id: str
    beside_per_event: float = Field(default=0.0, ge=0, description="activities started "
                                    "beside the workflow per event, as a case's deliveries")


class BareRow(BaseModel):
    key: str
    case_id: str
    seq: int


class BareRegister:
    """The bare workflow's register: one row per activity, written in its own transaction
    (`BEGIN IMMEDIATE` .. `COMMIT`) in a SQLite file in WAL mode, one connection per
    activity thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute("PRAGMA synchronous=normal")
            conn.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, "
                         "case_id TEXT NOT NULL, seq INTEGER NOT NULL)")
            self._local.conn = conn
        return conn

    @activity.defn(name="bench.write")
    def write(self, row: BareRow) -> int:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute("INSERT INTO rows (key, case_id, seq) VALUES (?, ?, ?) "
                               "ON CONFLICT (key) DO NOTHING", (row.key, row.case_id, row.seq))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return cur.rowcount


@workflow.defn(name="BareCase")
class BareCase:
    """Events by update, as a case takes them: a validator refuses an id already used, the
    handler keeps the event and answers its number; the main loop then writes one register
    row for what arrived since its last write (one `bench.write`, awaited, as a case's
    `register.record`), and starts `beside_per_event` more per event without waiting for
    them (as a case's deliveries)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.seen: set[str] = set()
        self.done = 0
        self.beside: list[workflow.ActivityHandle[int]] = []

    @workflow.run
    async def run(self, start: BareStart) -> int:
        rate = start.beside_per_event
        while True:
            await workflow.wait_condition(lambda: self.done < len(self.ids))
            first, self.done = self.done, len(self.ids)
            await workflow.execute_activity(
                "bench.write", BareRow(key=f"{start.case_id}:{self.done}",
                                       case_id=start.case_id, seq=self.done),
                start_to_close_timeout=timedelta(seconds=10), result_type=int)
            beside = math.floor(self.done * rate) - math.floor(first * rate)
            self.beside = [h for h in self.beside if not h.done()]
            self.beside += [workflow.start_activity(
                "bench.write", BareRow(key=f"{start.case_id}:{self.done}:{i}",
                                       case_id=start.case_id, seq=self.done),
                start_to_close_timeout=timedelta(seconds=30), result_type=int)
                for i in range(beside)]

    @workflow.update(name="event")
    async def event(self, ev: BareEvent) -> BareAck:
        self.ids.append(ev.id)
        self.seen.add(ev.id)
        return BareAck(case_id=ev.case_id, seq=len(self.ids))

    @event.validator
    def _check_event(self, ev: BareEvent) -> None:
        if ev.id in self.seen:
            raise ApplicationError(f"event id {ev.id!r} already used", type="EventRejected",
                                   non_retryable=True)

    @workflow.query(name="ids")
    def applied(self) -> list[str]:
        return self.ids
