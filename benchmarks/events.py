"""Events per second, and their latency, through the HTTP API (`POST /cases/{id}/events`), next
to a bare workflow's updates through the raw Temporal client, measured in the same run against
the same Temporal dev server.

    .venv/bin/python benchmarks/events.py                 # 60 cases x 24 events, ~4 min
    .venv/bin/python benchmarks/events.py --quick         # ~20 s: 16 cases x 3 events
    .venv/bin/python benchmarks/events.py --levels 16 --profile var/events.prof
    .venv/bin/python benchmarks/events.py --levels 16 --py-spy var/events.spy

One Temporal dev server (SQLite file with the WAL pragmas of `make run`, search attributes
registered) is started here. The engine runs in its own process as `make run` runs it
against a Temporal address (`enforcement.ops.run.serve`: the worker and the API in one process
and event loop, JSON logs at INFO, a SQLite register), and beside it, in that process and
loop, a worker of the bare workflow on its own task queue. This process is the load
generator, `--levels` requests in flight at a time (16 and 64 by default):

- engine: `POST /cases/{id}/events` with a regulator's bearer token, over keep-alive
  HTTP/1.1 connections from a minimal client (so that the load generator's own CPU stays
  small): the API validates the event, asks the case for its status (to follow a case
  moved to its sanction-stage workflow), then sends it as the case workflow's `event`
  update, whose answer is the case's whole status. The workflow then records the event in
  the register (one `register.record` activity) and delivers its notifications (a
  `notify.deliver` activity each, beside the case);
- bare: `client.execute_update("event", BareEvent(...))` on a `BareCase` workflow
  (benchmarks/bench_bare.py): an update handler of the same shape (a validator and a
  handler taking a pydantic model; the answer is a small model), then one SQLite write
  awaited per batch of events, as the case's `register.record`, and as many more started
  beside it per event as the engine's cases delivered notifications per event in the
  warm-up, or without one in the first engine round (each a one-row SQLite transaction in
  WAL mode, `bench.write`). The activities
  each side actually ran are counted from the histories of the first 16 cases of each
  round and printed.

Each case is opened with a complaint dated 300 days ago, then gets `--events` events, all
accepted in order: `information_requested` (period 1 month) and `information_provided`
alternately, on the successive days after the complaint, each with an id of its own. A case
has at most one event in flight (so that its events arrive in order): a level of 64 in
flight uses max(--cases, 64) cases. Each level and side gets fresh cases (a case's status
grows with its timeline), opened untimed; rounds alternate which side goes first. Figures:
events per second over the round's wall time, p50 and p99 of each request's latency, the
ratio engine / bare (printed next to its goal, never asserted).

Then the check, untimed (warm-up included): every request answered 200 (counted: non-2xx,
5xx), and every case's timeline (`GET /cases/{id}`) holds every event sent to it, in order,
numbered 2..n+1 after the complaint with the type and date sent (an event missing is lost);
every bare workflow holds every id sent to it, in order. The exit status is that check's: 1
when anything differs, whatever the speed.

`--profile FILE`: cProfile (thread CPU time) in the engine's process, only while the
engine's timed rounds run (the event loop's thread and every thread-pool task: workflow
activations in the sandbox, activities, `asyncio.to_thread`), saved to FILE (pstats) and
summed up here per event: by area (own time), and the engine's own functions
(enforcement/, workflows/, activities/, worker.py) by cumulative time. `--py-spy FILE`: the
same rounds sampled by py-spy (`pip install py-spy`, on PATH; only the thread holding the
GIL), which slows the engine far less than cProfile does.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowUpdateFailedError  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from enforcement.ops.temporal import SEARCH_KEYS, binary  # noqa: E402
from enforcement.privacy.codec import PLAIN_CONVERTER  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bare import BareAck, BareCase, BareEvent, BareStart  # noqa: E402
from intake import clearview  # noqa: E402
from procstat import cpu_seconds, dev_server_pid  # noqa: E402

GOAL = 0.7
PARIS = ZoneInfo("Europe/Paris")
AGE_DAYS = 300  # the complaint's age; the events follow it day by day
OPEN_CONCURRENCY = 16
SAMPLE_RATE = 100  # py-spy's samples per second
SAMPLE = 16  # cases of each timed round whose activities are counted from their histories


# --- what is sent ------------------------------------------------------------------------

def complaint_day() -> date:
    return datetime.now(PARIS).date() - timedelta(days=AGE_DAYS)


def events_of(case_id: str, n: int, start: date) -> list[dict[str, Any]]:
    """The case's stream: information requested (1 month) and provided, alternately, on the
    successive days after the complaint, each with its own id."""
    out: list[dict[str, Any]] = []
    for k in range(1, n + 1):
        ev: dict[str, Any] = {"id": f"{case_id}/{k}", "date": (start + timedelta(days=k))
                              .isoformat()}
        if k % 2:
            ev |= {"type": "information_requested", "period": "1 month"}
        else:
            ev |= {"type": "information_provided"}
        out.append(ev)
    return out




@dataclass
class Stream:
    """One case's events, sent one at a time."""

    case_id: str
    events: list[dict[str, Any]]
    bodies: list[bytes] = field(default_factory=list)
    sent: int = 0
    status_bytes: int = 0  # its status (GET /cases/{id}) at the check

    def __post_init__(self) -> None:
        self.bodies = [json.dumps(ev).encode() for ev in self.events]


@dataclass
class Round:
    side: str
    level: int
    cases: int
    events: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per event, by process

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)

    @property
    def answered_5xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Meter:
    """Around a round's timed part: the CPU each process used per event; the engine
    process's profiler switched on and off (`--profile`), py-spy attached to it and
    detached (`--py-spy`, its samples appended to that file)."""

    def __init__(self, procs: dict[str, int], profile: int = 0,
                 sampler: tuple[str, Path] | None = None) -> None:
        self.procs = {k: pid for k, pid in procs.items() if pid}
        self.profile = profile  # the pid to signal, 0: none
        self.sampler = sampler
        self.spy: subprocess.Popen[bytes] | None = None
        self.before: dict[str, float] = {}

    def start(self) -> None:
        if self.profile:
            os.kill(self.profile, signal.SIGUSR1)
        if self.sampler is not None:
            binary, out = self.sampler
            self.spy = subprocess.Popen(
                [binary, "record", "--pid", str(self.procs["engine"]), "--format", "raw",
                 "--rate", str(SAMPLE_RATE), "--nonblocking", "--full-filenames", "--gil",
                 "--output", str(out.with_suffix(".part"))],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)  # attached before the first request
        self.before = {k: cpu_seconds(pid) for k, pid in self.procs.items()}

    def stop(self, result: Round) -> None:
        result.cpu_ms = {k: (cpu_seconds(self.procs[k]) - t0) * 1000 / result.events
                         for k, t0 in self.before.items()}
        if self.profile:
            os.kill(self.profile, signal.SIGUSR2)
        if self.spy is not None and self.sampler is not None:
            self.spy.send_signal(signal.SIGINT)
            _, err = self.spy.communicate(timeout=60)
            part = self.sampler[1].with_suffix(".part")
            if not part.exists():
                raise RuntimeError(f"py-spy wrote no samples: {err.decode()[-2000:]}")
            with self.sampler[1].open("a") as sink:
                sink.write(part.read_text())
            part.unlink()


async def drive(streams: list[Stream], concurrency: int,
                call: Callable[[int, Stream, int], Awaitable[int]], result: Round,
                meter: Meter | None = None) -> None:
    """Send every stream's events in order, each case's one at a time, `concurrency` in
    flight over the cases; each lane `i` keeps its own connection. `call` answers a status
    (200 for a bare update applied, 0 for an error that is no HTTP answer)."""
    ready = list(reversed(streams))  # cases with no event in flight, next one first
    waiting = asyncio.Event()
    in_flight = 0

    async def lane(i: int) -> None:
        nonlocal in_flight
        while True:
            while not ready:
                if in_flight == 0:
                    return
                waiting.clear()
                await waiting.wait()
            stream = ready.pop()
            k = stream.sent
            in_flight += 1
            t0 = time.perf_counter()
            status = await call(i, stream, k)
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[status] += 1
            stream.sent += 1
            in_flight -= 1
            if stream.sent < len(stream.events):
                ready.insert(0, stream)
            waiting.set()

    if meter is not None:
        meter.start()
    t0 = time.perf_counter()
    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - t0
    if meter is not None:
        meter.stop(result)


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams, so that the load generator's
    own CPU stays small next to the server it measures (as wrk would). A connection idle
    for longer than uvicorn keeps one open (5 s) is opened afresh; one the server closed
    before answering is opened again and the request sent once more (an event has its id:
    sent twice, it is applied once)."""

    IDLE = 3.0  # seconds

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is not None and time.monotonic() - self.used > self.IDLE:
            self.close()
        for attempt in range(2):
            fresh = self.reader is None or self.writer is None
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1",
                                                                         self.port)
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode()
            extra = (f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     .encode() if body or method == "POST" else b"")
            self.writer.write(head + self.auth + extra + b"\r\n" + body)
            try:
                status_line = await self.reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                break
            self.close()
            if fresh or attempt:
                raise ConnectionError("the API closed the connection without answering")
        status = int(status_line.split()[1])
        length = 0
        assert self.reader is not None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        text = await self.reader.readexactly(length)
        self.used = time.monotonic()
        return status, text

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def gather_limited(items: Sequence[str], fn: Callable[[str], Awaitable[str | None]],
                         limit: int = OPEN_CONCURRENCY) -> list[str]:
    """fn over items, `limit` at a time; the problems it reported (None: fine)."""
    gate = asyncio.Semaphore(limit)

    async def one(item: str) -> str | None:
        async with gate:
            return await fn(item)

    return [r for r in await asyncio.gather(*(one(i) for i in items)) if r is not None]


async def first_task_done(client: Client, workflow_id: str) -> None:
    """Until the workflow's first task is completed (a query or an update before that waits
    for it; the rounds measure events, not openings)."""
    done = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    waited = 0.0
    while waited < 60:
        async for ev in client.get_workflow_handle(workflow_id).fetch_history_events():
            if ev.event_type == done:
                return
        pause = min(0.05 + waited / 4, 0.5)  # polling costs the server too
        await asyncio.sleep(pause)
        waited += pause
    raise RuntimeError(f"{workflow_id}: its first workflow task did not complete in a minute")


# --- the two sides -----------------------------------------------------------------------

@dataclass
class Bench:
    client: Client
    port: int
    token: str
    bare_queue: str
    start: date
    beside_per_event: float = 0.0
    opening_seconds: float = 0.0  # untimed: opening the cases, both sides
    engine_streams: list[Stream] = field(default_factory=list)
    bare_streams: list[Stream] = field(default_factory=list)

    async def open_engine(self, ids: list[str]) -> None:
        """Open the cases through the API; until each has run its first workflow task."""
        conns = [Connection(self.port, self.token) for _ in range(OPEN_CONCURRENCY)]

        async def one(case_id: str) -> str | None:
            conn = conns.pop()
            try:
                status, text = await conn.request(
                    "POST", "/cases", json.dumps(clearview(case_id, self.start)).encode())
                if status != 201:
                    raise RuntimeError(f"POST /cases {case_id} answered {status}: "
                                       f"{text[:300]!r}")
            finally:
                conns.append(conn)
            await first_task_done(self.client, case_id)
            return None

        try:
            await gather_limited(ids, one)
        finally:
            for conn in conns:
                conn.close()

    async def open_bare(self, ids: list[str]) -> None:
        async def one(case_id: str) -> str | None:
            handle = await self.client.start_workflow(
                BareCase.run, BareStart(case_id=case_id, beside_per_event=self.beside_per_event),
                id=case_id, task_queue=self.bare_queue)
            await first_task_done(self.client, handle.id)
            return None

        await gather_limited(ids, one)

    async def engine_round(self, tag: str, cases: int, events: int, level: int,
                           meter: Meter | None = None) -> Round:
        ids = [f"{tag}-{i}" for i in range(cases)]
        t0 = time.perf_counter()
        await self.open_engine(ids)
        self.opening_seconds += time.perf_counter() - t0
        streams = [Stream(case_id, events_of(case_id, events, self.start)) for case_id in ids]
        self.engine_streams += streams
        result = Round("engine", level, cases, cases * events)
        conns = [Connection(self.port, self.token) for _ in range(level)]

        async def call(i: int, stream: Stream, k: int) -> int:
            try:
                status, text = await conns[i].request(
                    "POST", f"/cases/{stream.case_id}/events", stream.bodies[k])
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                conns[i].close()
                result.failures.append(f"{stream.case_id} event {k + 1}: {exc!r}")
                return 0
            if status != 200:
                result.failures.append(f"{stream.case_id} event {k + 1}: answered {status}: "
                                       f"{text[:300]!r}")
            return status

        try:
            await drive(streams, level, call, result, meter)
        finally:
            for conn in conns:
                conn.close()
        return result

    async def bare_round(self, tag: str, cases: int, events: int, level: int,
                         meter: Meter | None = None) -> Round:
        ids = [f"{tag}-{i}" for i in range(cases)]
        t0 = time.perf_counter()
        await self.open_bare(ids)
        self.opening_seconds += time.perf_counter() - t0
        streams = [Stream(case_id, events_of(case_id, events, self.start)) for case_id in ids]
        self.bare_streams += streams
        inputs = {s.case_id: [BareEvent(case_id=s.case_id, id=ev["id"], type=ev["type"],
                                        date=date.fromisoformat(ev["date"]))
                              for ev in s.events] for s in streams}
        handles = {case_id: self.client.get_workflow_handle(case_id) for case_id in ids}
        result = Round("bare", level, cases, cases * events)

        async def call(_i: int, stream: Stream, k: int) -> int:
            try:
                ack: BareAck = await handles[stream.case_id].execute_update(
                    "event", inputs[stream.case_id][k], result_type=BareAck)
            except (WorkflowUpdateFailedError, RPCError) as exc:
                result.failures.append(f"{stream.case_id} event {k + 1}: {exc!r}")
                return 0
            if ack.seq != k + 1:
                result.failures.append(f"{stream.case_id} event {k + 1}: numbered {ack.seq}")
            return 200

        await drive(streams, level, call, result, meter)
        return result


# --- the check -----------------------------------------------------------------------------

async def check_engine(port: int, token: str, streams: list[Stream], start: date
                       ) -> tuple[int, list[str]]:
    """Each case's timeline holds the complaint, then every event sent, in order: numbered
    2..n+1 with the type and date sent. The events missing (lost), and what was wrong."""
    conns = [Connection(port, token) for _ in range(OPEN_CONCURRENCY)]
    lost = 0

    async def one(case_id: str) -> str | None:
        nonlocal lost
        stream = by_id[case_id]
        conn = conns.pop()
        try:
            status, text = await conn.request("GET", f"/cases/{case_id}")
        finally:
            conns.append(conn)
        if status != 200:
            lost += stream.sent
            return f"{case_id}: GET answered {status}: {text[:300]!r}"
        stream.status_bytes = len(text)
        timeline = [e for e in json.loads(text)["timeline"] if e["kind"] == "event"]
        got = [(e["seq"], e["name"], e["date"][:10]) for e in timeline]
        want = [(1, "complaint_received", start.isoformat())] + [
            (k + 2, ev["type"], ev["date"]) for k, ev in enumerate(stream.events[:stream.sent])]
        missing = [w for w in want if w not in got]
        lost += len(missing)
        if got != want:
            return (f"{case_id}: timeline {got[:3]}..{got[-2:]} ({len(got)} events), expected "
                    f"{want[:3]}..{want[-2:]} ({len(want)}); {len(missing)} missing")
        return None

    by_id = {s.case_id: s for s in streams}
    try:
        wrong = await gather_limited(list(by_id), one)
    finally:
        for conn in conns:
            conn.close()
    return lost, wrong


async def check_bare(client: Client, streams: list[Stream]) -> tuple[int, list[str]]:
    lost = 0

    async def one(case_id: str) -> str | None:
        nonlocal lost
        stream = by_id[case_id]
        want = [ev["id"] for ev in stream.events[:stream.sent]]
        got = await client.get_workflow_handle(case_id).query(BareCase.applied)
        lost += len(set(want) - set(got))
        return None if got == want else f"{case_id}: holds {len(got)} ids, {len(want)} sent"

    by_id = {s.case_id: s for s in streams}
    return lost, await gather_limited(list(by_id), one)


@dataclass
class PerEvent:
    """What the cases' histories hold per event sent, since the first event."""

    activities: Counter[str]  # scheduled, by type
    history_events: float
    history_kb: float
    cases: int = 0
    task_failures: int = 0  # workflow tasks failed or timed out, in all
    status_kb: float | None = None  # a case's status at the end, as GET /cases/{id} has it

    def __str__(self) -> str:
        status = ("" if self.status_kb is None else
                  f"; a case's status at the end {self.status_kb:.1f} KB (the JSON of "
                  f"GET /cases/{{id}}, as the update answers it)")
        return (f"{sum(self.activities.values()):.2f} activities (" + ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(self.activities.items())) +
            f"), {self.history_events:.1f} history events, {self.history_kb:.1f} KB of "
            f"history; {self.task_failures} workflow tasks failed or timed out in the "
            f"{self.cases} cases counted{status}")


async def per_event(client: Client, streams: list[Stream]) -> PerEvent:
    """The activities the cases scheduled since their first event, by type, and their
    histories' events and bytes since then; per event."""
    counts: Counter[str] = Counter()
    size = [0, 0, 0]
    failed = (EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
              EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)

    async def one(case_id: str) -> str | None:
        after_first = False
        async for ev in client.get_workflow_handle(case_id).fetch_history_events():
            if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                after_first = True
            if ev.event_type in failed:
                size[2] += 1
            if not after_first:
                continue
            size[0] += 1
            size[1] += ev.ByteSize()
            if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                counts[ev.activity_task_scheduled_event_attributes.activity_type.name] += 1
        return None

    await gather_limited([s.case_id for s in streams], one)
    events = max(sum(s.sent for s in streams), 1)
    return PerEvent(Counter({k: v / events for k, v in counts.items()}), size[0] / events,
                    size[1] / 1024 / events, len(streams), size[2])


def deliveries(seen: PerEvent) -> float:
    """The activities per event besides the register's."""
    return sum(v for k, v in seen.activities.items() if k != "register.record")


def sample(streams: list[Stream], per_round: int = SAMPLE) -> list[Stream]:
    """The first cases of each timed round (their ids end with their number)."""
    return [s for s in streams
            if not s.case_id.startswith("warm") and int(s.case_id.rsplit("-", 1)[1]) < per_round]


# --- processes -----------------------------------------------------------------------------

BANNER = re.compile(r"^\s*API\s+http://127\.0\.0\.1:(\d+)\s*$", re.M)


def start_engine(config: dict[str, str], folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The engine's process (`--serve`), the API's port once its banner is printed."""
    out, err = folder / "engine.out", folder / "engine.log"
    with out.open("wb") as sink, err.open("wb") as errors:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(config)],
                                cwd=ROOT, stdout=sink, stderr=errors)
    for _ in range(1200):
        if found := BANNER.search(out.read_text()):
            return proc, int(found[1])
        if proc.poll() is not None:
            raise RuntimeError(f"the engine exited: {err.read_text()[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"the engine did not start: {err.read_text()[-3000:]}")


def stop(engine: subprocess.Popen[bytes], wait: float = 60) -> None:
    """SIGTERM, as a deployment stops the engine; killed if it has not ended after `wait`
    seconds (said on stderr: a shutdown that hangs is a finding, not a benchmark figure)."""
    if engine.poll() is not None:
        return
    engine.send_signal(signal.SIGTERM)
    try:
        engine.wait(wait)
    except subprocess.TimeoutExpired:
        print(f"the engine (pid {engine.pid}) did not stop {wait:.0f} s after SIGTERM: "
              f"killed", file=sys.stderr)
        engine.kill()
        engine.wait(30)


def serve_engine(config: dict[str, str]) -> None:
    """--serve: what `make run` runs against a Temporal address (worker and API in one
    process and loop), and beside it in the same loop the bare workflow's worker."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from enforcement.ops.logs import configure
    from enforcement.ops.process import leave
    from enforcement.ops.run import serve
    from enforcement.ops.settings import Settings
    from workflows import workflow_runner

    profiler = Profiler() if config.get("profile") else None
    settings = Settings(temporal_address=config["address"], task_queue=config["task_queue"],
                        database_url=f"sqlite:///{config['folder']}/register.db",
                        api_host="127.0.0.1", api_port=0,
                        api_tokens={config["token"]: {"role": "regulator", "name": "bench"}},
                        log_level="INFO", log_json=True)
    configure(settings.log_level, settings.log_json)

    async def main() -> int:
        from bench_bare import BareRegister

        if profiler is not None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, profiler.start)
            loop.add_signal_handler(signal.SIGUSR2, profiler.stop)
        client = await Client.connect(config["address"], data_converter=PLAIN_CONVERTER)
        register = BareRegister(f"{config['folder']}/bare.db")
        with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
            async with Worker(client, task_queue=config["bare_queue"], workflows=[BareCase],
                              activities=[register.write], activity_executor=executor,
                              workflow_runner=workflow_runner(),
                              max_concurrent_activities=settings.activity_threads):
                return await serve(settings)

    code = asyncio.run(main())
    if profiler is not None:
        profiler.save(Path(config["profile"]))
    leave(code)


class Profiler:
    """cProfile switched on and off by signals, in the event loop's thread and in every task
    run by a thread pool (workflow activations, activities, asyncio.to_thread): one profile
    per thread, enabled only around each task, merged when saved."""

    def __init__(self) -> None:
        import cProfile
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.on = False
        # CPU time of the thread (not the wall clock): the figures do not grow with the
        # machine's load, and a thread waiting (for the GIL, a lock, I/O) is not counted
        self.main = cProfile.Profile(time.thread_time)
        self.threads: list[cProfile.Profile] = []
        local = threading.local()
        lock = threading.Lock()
        submit = ThreadPoolExecutor.submit
        profiler = self

        def profiled(pool: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
                     **kwargs: Any) -> Any:
            def run() -> Any:
                if not profiler.on:
                    return fn(*args, **kwargs)
                prof: cProfile.Profile | None = getattr(local, "prof", None)
                if prof is None:
                    prof = local.prof = cProfile.Profile(time.thread_time)
                    with lock:
                        profiler.threads.append(prof)
                prof.enable()
                try:
                    return fn(*args, **kwargs)
                finally:
                    prof.disable()
            return submit(pool, run)

        ThreadPoolExecutor.submit = profiled  # type: ignore[method-assign,assignment]

    def start(self) -> None:
        self.on = True
        self.main.enable()

    def stop(self) -> None:
        self.main.disable()
        self.on = False

    def save(self, path: Path) -> None:
        """The profiles merged, in pstats' file format. Not by `pstats.Stats.add`: the
        sandbox executes a workflow's module afresh for each workflow run, so one function
        has a code object per run, which cProfile counts apart and pstats' snapshot of a
        profile keeps only one of (by file, line and name); here they are summed."""
        import marshal

        Func = tuple[str, int, str]
        totals: dict[Func, list[float]] = {}
        callers: dict[Func, dict[Func, list[float]]] = {}

        def label(code: Any) -> Func:
            if isinstance(code, str):
                return ("~", 0, code)
            return (code.co_filename, code.co_firstlineno, code.co_name)

        for prof in (self.main, *self.threads):
            for entry in prof.getstats():
                func = label(entry.code)
                t = totals.setdefault(func, [0, 0, 0.0, 0.0])
                t[0] += entry.callcount - entry.reccallcount
                t[1] += entry.callcount
                t[2] += entry.inlinetime
                t[3] += entry.totaltime
                for sub in entry.calls or ():
                    c = callers.setdefault(label(sub.code), {}).setdefault(
                        func, [0, 0, 0.0, 0.0])
                    c[0] += sub.callcount - sub.reccallcount
                    c[1] += sub.callcount
                    c[2] += sub.inlinetime
                    c[3] += sub.totaltime
        stats = {func: (int(t[0]), int(t[1]), t[2], t[3],
                        {k: (int(v[1]), int(v[0]), v[2], v[3])
                         for k, v in callers.get(func, {}).items()})
                 for func, t in totals.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            marshal.dump(stats, f)


# The engine's own code.
OWN = (str(ROOT / "enforcement"), str(ROOT / "workflows"), str(ROOT / "activities"),
       str(ROOT / "worker.py"))
# Where a function's own time goes, by the first that matches its file (or, for a builtin,
# its name): the summary's areas.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("engine: enforcement/", (str(ROOT / "enforcement"),)),
    ("engine: workflows/", (str(ROOT / "workflows"),)),
    ("engine: activities/", (str(ROOT / "activities"), str(ROOT / "worker.py"))),
    ("benchmark (bare worker)", (str(ROOT / "benchmarks"),)),
    ("temporalio: workflow sandbox", ("/temporalio/worker/workflow_sandbox/",)),
    ("temporalio: workflow instance", ("/temporalio/worker/_workflow_instance.py",
                                       "/temporalio/workflow.py")),
    ("temporalio: converters", ("/temporalio/converter.py", "/temporalio/contrib/pydantic")),
    ("temporalio: other", ("/temporalio/", "google/protobuf", "<pb_", "protobuf")),
    ("pydantic (validation, serialisation)", ("/pydantic/", "pydantic_core")),
    ("fastapi, starlette, uvicorn, h11", ("/fastapi/", "/starlette/", "/uvicorn/", "/h11/",
                                          "/httptools/", "/anyio/")),
    ("structlog, logging", ("/structlog/", "/logging/")),
    ("sqlalchemy, sqlite3", ("/sqlalchemy/", "sqlite3", "/alembic/")),
    ("asyncio, selectors, threads", ("/asyncio/", "selectors", "/threading.py",
                                     "/concurrent/", "select.epoll")),
    ("json", ("/json/", "json.", "_json")),
    ("holidays, dateutil, zoneinfo", ("/holidays/", "/dateutil/", "zoneinfo")),
)


def area_of(filename: str, name: str) -> str:
    where = filename if filename != "~" else name
    for label, marks in AREAS:
        if any(m in where for m in marks):
            return label
    return "other Python" if filename != "~" else "other builtins"


def profile_summary(path: Path, events: int, top: int = 32) -> list[str]:
    """Where the CPU went, by area (own time), then the engine's own functions by cumulative
    time; both per event."""
    import pstats

    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    own = OWN
    areas: Counter[str] = Counter()
    rows = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in raw.items():
        areas[area_of(filename, name)] += tt
        if filename.startswith(own):
            rows.append((ct, nc, f"{Path(filename).relative_to(ROOT)}:{line}({name})"))
    rows.sort(reverse=True)
    ms = 1000 / events
    lines = [f"profile {path}: {total:.2f} s of CPU in the engine process's Python threads "
             f"over {events} events, {total * ms:.2f} ms per event (under cProfile); by area "
             f"(own time):"]
    lines += [f"    {tt * ms:8.2f} ms  {tt / total:5.1%}  {label}"
              for label, tt in areas.most_common()]
    lines += ["  the engine's functions by cumulative time:",
              "    ms/event  calls/event  function"]
    lines += [f"    {ct * ms:8.3f}  {nc / events:11.2f}  {where}"
              for ct, nc, where in rows[:top]]
    return lines


FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def samples_summary(path: Path, events: int, top: int = 24) -> list[str]:
    """py-spy's samples of the engine process: by area (the innermost Python frame's file),
    then the engine's functions by the samples they are on the stack of; per event."""
    areas: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [m for f in stack.split(";") if (m := FRAME.match(f))]
        if frames:
            areas[area_of(frames[-1]["file"], frames[-1]["name"])] += n
        for where in {f"{m['file']}({m['name']})" for m in frames
                      if m["file"].startswith(OWN)}:
            inclusive[where.removeprefix(str(ROOT) + "/")] += n
    ms = 1000 / SAMPLE_RATE / events
    lines = [f"py-spy {path}: {total} samples at {SAMPLE_RATE}/s of the engine process's "
             f"thread holding the GIL over {events} events, {total * ms:.2f} ms per event; by "
             f"area (innermost Python frame):"]
    lines += [f"    {n * ms:8.2f} ms  {n / total:5.1%}  {label}"
              for label, n in areas.most_common()]
    lines += ["  the engine's functions by the samples they are on the stack of:",
              "    ms/event  function"]
    lines += [f"    {n * ms:8.2f}  {where}" for where, n in inclusive.most_common(top)]
    return lines


# --- the run -------------------------------------------------------------------------------

def fmt(r: Round) -> str:
    return (f"{r.rate:7.1f} events/s   p50 {percentile(r.latencies, 50) * 1000:6.1f} ms   "
            f"p99 {percentile(r.latencies, 99) * 1000:6.1f} ms")


async def main(args: argparse.Namespace) -> int:
    levels: list[int] = args.levels
    with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
        folder = Path(tmp)
        env = await WorkflowEnvironment.start_local(
            data_converter=PLAIN_CONVERTER, search_attributes=SEARCH_KEYS,
            dev_server_existing_path=binary("temporal"),
            dev_server_database_filename=str(folder / "temporal.db"),
            dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal",
                                   "--sqlite-pragma", "synchronous=normal"],
            dev_server_log_level="error")
        client = env.client
        address = client.service_client.config.target_host
        token = secrets.token_urlsafe(24)
        run = uuid.uuid4().hex[:6]
        config = {"address": address, "task_queue": f"events-{run}",
                  "bare_queue": f"bare-{run}", "folder": str(folder), "token": token,
                  "profile": str(args.profile.resolve()) if args.profile else ""}
        spy = ""
        if args.py_spy:
            spy = shutil.which("py-spy") or ""
            if not spy:
                raise SystemExit("--py-spy: no py-spy on PATH (pip install py-spy)")
            args.py_spy.parent.mkdir(parents=True, exist_ok=True)
            args.py_spy.write_text("")
        engine: subprocess.Popen[bytes] | None = None
        rounds: list[Round] = []
        phases: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            engine, port = start_engine(config, folder)
            phases["start"] = time.perf_counter() - t0
            procs = {"engine": engine.pid, "temporal": dev_server_pid(address.rsplit(":", 1)[1]),
                     "bench": os.getpid()}
            bench = Bench(client, port, token, config["bare_queue"], complaint_day())
            # warm-up (untimed): both sides, and the engine's deliveries per event, which the
            # bare workflow then starts beside itself (without a warm-up: those of the first
            # engine round, which comes first)
            warm_cases, warm_events = args.warm
            if warm_cases and warm_events:
                warm = await bench.engine_round(f"warm-e-{run}", warm_cases, warm_events, 16)
                bench.beside_per_event = deliveries(await per_event(client,
                                                                    bench.engine_streams))
                warm_bare = await bench.bare_round(f"warm-b-{run}", warm_cases, warm_events,
                                                   16)
                for r in (warm, warm_bare):
                    r.side = f"warm-up {r.side}"
                rounds += [warm, warm_bare]
            for n, level in enumerate(levels):
                cases = max(args.cases, level)
                for side in (("engine", "bare") if n % 2 == 0 else ("bare", "engine")):
                    tag = f"{side[0]}{level}-{run}"
                    if side == "engine":
                        meter = Meter(procs, engine.pid if args.profile else 0,
                                      (spy, args.py_spy) if args.py_spy else None)
                        r = await bench.engine_round(tag, cases, args.events, level, meter)
                        if not bench.bare_streams and not bench.beside_per_event:
                            bench.beside_per_event = deliveries(await per_event(
                                client, sample(bench.engine_streams)))
                    else:
                        r = await bench.bare_round(tag, cases, args.events, level, Meter(procs))
                    rounds.append(r)
                    print(f"  {level:3d} in flight, {side:>6}: {fmt(r)}", flush=True)
            t1 = time.perf_counter()
            lost_engine, wrong = await check_engine(port, token, bench.engine_streams,
                                                    bench.start)
            lost_bare, wrong_bare = await check_bare(client, bench.bare_streams)
            engine_acts = await per_event(client, sample(bench.engine_streams))
            engine_acts.status_kb = statistics.mean(
                s.status_bytes / 1024 for s in sample(bench.engine_streams))
            bare_acts = await per_event(client, sample(bench.bare_streams))
            phases["opening cases"] = bench.opening_seconds
            phases["check"] = time.perf_counter() - t1
        except Exception:
            print(f"the engine's log ends with:\n{(folder / 'engine.log').read_text()[-3000:]}",
                  file=sys.stderr)
            raise
        finally:
            if engine is not None:
                stop(engine)
            await env.shutdown()
    phases["in all"] = time.perf_counter() - t0
    return report(args, rounds, engine_acts, bare_acts, (lost_engine, wrong),
                  (lost_bare, wrong_bare), phases)


def report(args: argparse.Namespace, rounds: list[Round], engine_acts: PerEvent,
           bare_acts: PerEvent, engine_check: tuple[int, list[str]],
           bare_check: tuple[int, list[str]], phases: dict[str, float]) -> int:
    timed = {(r.side, r.level): r for r in rounds if not r.side.startswith("warm")}
    print()
    print(f"events per second through the API and by raw update ({args.events} events per "
          f"case, fresh cases per level and side, SQLite WAL dev server, worker and API in "
          f"one process as `make run`):")
    for level in args.levels:
        e, b = timed[("engine", level)], timed[("bare", level)]
        print(f"  {level} in flight ({e.cases} cases, {e.events} events per side):")
        print(f"    engine, POST /cases/{{id}}/events  {fmt(e)}")
        print(f"    bare, client.execute_update      {fmt(b)}")
        print(f"    engine / bare  {e.rate / b.rate:5.2f}   (goal >= {GOAL})")
        for r in (e, b):
            print(f"    CPU per event, {r.side:>6}: " + ", ".join(
                f"{k} {v:.2f} ms" for k, v in r.cpu_ms.items()))

    print(f"  per event, engine: {engine_acts}")
    print(f"  per event,   bare: {bare_acts}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, temporalio {importlib.metadata.version('temporalio')}, "
          f"fastapi {importlib.metadata.version('fastapi')}, "
          f"uvicorn {importlib.metadata.version('uvicorn')}")
    print("untimed: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    profiled = sum(r.events for r in rounds if r.side == "engine")
    if args.profile:
        print("\n".join(profile_summary(args.profile, profiled)))
    if args.py_spy:
        print("\n".join(samples_summary(args.py_spy, profiled)))
    engine_rounds = [r for r in rounds if r.side.endswith("engine")]
    sent = sum(r.events for r in engine_rounds)
    non_2xx = sum(r.non_2xx for r in engine_rounds)
    answered_5xx = sum(r.answered_5xx for r in engine_rounds)
    lost, wrong = engine_check
    bare_lost, bare_wrong = bare_check
    bare_rounds = [r for r in rounds if r.side.endswith("bare")]
    bare_failed = sum(r.non_2xx for r in bare_rounds)
    failures = [f for r in rounds for f in r.failures] + wrong + bare_wrong
    print(f"engine: {sent} events sent, {non_2xx} answered non-2xx ({answered_5xx} 5xx), "
          f"{lost} lost; bare: {sum(r.events for r in bare_rounds)} updates sent, "
          f"{bare_failed} failed, {bare_lost} lost")
    if failures or non_2xx or lost or bare_failed or bare_lost:
        print(f"CHECK FAILED: {len(failures)} problems, e.g.", file=sys.stderr)
        for line in failures[:10]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"check: all {sent} events answered 200 and present in their cases' timelines; "
          f"{lost} lost, {answered_5xx} answered 5xx")
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=60,
                        help="cases per level and side (at least as many as in flight)")
    parser.add_argument("--events", type=int, default=24, help="events per case")
    parser.add_argument("--levels", type=int, nargs="+", default=[16, 64],
                        help="requests in flight")
    parser.add_argument("--warm", type=int, nargs=2, default=[16, 6],
                        metavar=("CASES", "EVENTS"), help="the warm-up, untimed (0 0: none)")
    parser.add_argument("--quick", action="store_true",
                        help="16 cases x 3 events (64 cases at 64 in flight), no warm-up")
    parser.add_argument("--profile", type=Path, help="cProfile the engine's timed rounds "
                        "into this file (pstats) and sum it up")
    parser.add_argument("--py-spy", type=Path, help="sample the engine's process with "
                        "py-spy (on PATH: pip install py-spy) during the engine's timed "
                        "rounds into this file (collapsed stacks) and sum it up")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_engine(json.loads(args.serve))
        return
    if args.quick:
        args.cases, args.events, args.warm = 16, 3, [0, 0]
    if not 1 <= args.events < AGE_DAYS:
        parser.error(f"--events: 1 to {AGE_DAYS - 1} (one a day after the complaint)")
    sys.exit(asyncio.run(main(args)))


if __name__ == "__main__":
    cli()
