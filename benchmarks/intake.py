"""Cases opened per second through the HTTP API, next to raw `client.start_workflow` calls
measured in the same run against the same Temporal dev server.

    .venv/bin/python benchmarks/intake.py             # ~1 min
    .venv/bin/python benchmarks/intake.py --quick     # ~20 s

One Temporal dev server (SQLite file with the WAL pragmas of `make run`, search attributes
registered) is started here. The API runs in its own process, as `make run` or a deployment
runs it (uvicorn, JSON logs at INFO, no access log), connected to that server. Both sides
open the same case, the Clearview complaint under fr-cnil, `--concurrency` requests in
flight at a time:

- raw: `client.start_workflow(EnforcementCase.run, CaseStart(...))` from this process with
  the start options the API uses, the inputs built beforehand (nothing but the call is
  timed);
- api: `POST /cases` with the same case as JSON and a regulator's bearer token, over
  keep-alive HTTP/1.1 connections from a minimal client (so that the load generator's own
  CPU stays small): validation with the pydantic models, the opening checks (the case
  machine applies the opening events with the time-limit core), then the same
  start_workflow call.

No worker polls during the measurement (`--worker` starts one in its own process): intake
is what is measured, not the processing of the cases. Rounds alternate raw and api; the
figure is the median of each side's rounds and their ratio (printed next to its goal, never
asserted).

Then the check, untimed: every case opened (warm-up included, both sides) is on the server,
running, as started: an `EnforcementCase` on the benchmark's task queue whose input is the
case sent (its id, procedure fr-cnil, controller, the complaint of 2020-05-25), and every
API answer named its case and run. All but the first few of each side are then terminated
and a worker (this process) runs those few: each must be at the `complaint` stage of fr-cnil
with the complainant-progress deadline (3 months, GDPR art. 78(2)) due 2020-08-25, computed
here.
The exit status is that check's: 1 when anything differs, whatever the speed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import structlog
from dateutil.relativedelta import relativedelta
from procstat import cpu_seconds, dev_server_pid
from reference import fr_due
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from enforcement.case.models import CaseInput, CaseStatus
from enforcement.families import get_procedure
from enforcement.ops.temporal import SEARCH_KEYS, binary
from enforcement.privacy.codec import PLAIN_CONVERTER
from workflows.case import CaseStart, EnforcementCase

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.8
# The start options `enforcement.ops.temporal.create_case` uses: a case id is never reused.
REJECT_DUPLICATE = WorkflowIDReusePolicy.REJECT_DUPLICATE
FAIL = WorkflowIDConflictPolicy.FAIL


COMPLAINT = date(2020, 5, 25)
CONTROLLER = "Clearview AI Inc."
# Cases of each side (the first ones opened) that a worker runs for the stage check.
SAMPLE = 3


def clearview(case_id: str, start: date = COMPLAINT) -> dict[str, Any]:
    """The intake body of a Clearview-like case, its complaint of `start`."""
    return {"case_id": case_id, "procedure": "fr-cnil",
            "controller": {"name": CONTROLLER, "country": "US"},
            "complainant_ref": "C-2020-001", "subject": "facial recognition scraping",
            "events": [{"type": "complaint_received", "date": start.isoformat(),
                        "subject": "facial recognition scraping",
                        "complainant_ref": "C-2020-001"}]}


async def drive(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> float:
    """Run call(0..n-1) with `concurrency` in flight; cases per second."""
    next_i = 0

    async def lane() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def case_ids(n: int, tag: str) -> list[str]:
    return [f"{tag}-{i}" for i in range(n)]


async def raw_round(client: Client, task_queue: str, n: int, concurrency: int,
                    tag: str) -> float:
    proc = get_procedure("fr-cnil")
    starts = [CaseStart(case=CaseInput.model_validate(clearview(f"{tag}-{i}")), procedure=proc)
              for i in range(n)]

    async def call(i: int) -> None:
        await client.start_workflow(EnforcementCase.run, starts[i], id=starts[i].case.case_id,
                                    task_queue=task_queue, id_reuse_policy=REJECT_DUPLICATE,
                                    id_conflict_policy=FAIL)

    return await drive(n, concurrency, call)


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams, so that the load generator's
    own CPU stays small next to the server it measures (as wrk would)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST /cases HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def api_round(port: int, token: str, n: int, concurrency: int, tag: str,
                    answers: dict[str, bytes]) -> float:
    """One round through the API; each case's answer is kept in `answers` (checked later)."""
    ids = case_ids(n, tag)
    bodies = [json.dumps(clearview(case_id)).encode() for case_id in ids]
    free = [Connection("127.0.0.1", port, token) for _ in range(concurrency)]

    async def call(i: int) -> None:
        conn = free.pop()
        try:
            status, text = await conn.post(bodies[i])
        finally:
            free.append(conn)
        if status != 201:
            raise RuntimeError(f"POST /cases answered {status}: {text[:300]!r}")
        answers[ids[i]] = text

    try:
        return await drive(n, concurrency, call)
    finally:
        for conn in free:
            conn.close()


# --- the check ---------------------------------------------------------------------------

def progress_due() -> str:
    """The complainant-progress deadline of the complaint, computed here: 3 months (GDPR art.
    78(2)), rolled past a Saturday, Sunday or French public holiday (CPC art. 642)."""
    return fr_due(COMPLAINT, relativedelta(months=3)).isoformat()


async def gather_limited(items: Sequence[str], fn: Callable[[str], Awaitable[str | None]],
                         limit: int = 32) -> list[str]:
    """fn over items, `limit` at a time; the problems it reported (None: fine)."""
    gate = asyncio.Semaphore(limit)

    async def one(item: str) -> str | None:
        async with gate:
            return await fn(item)

    return [r for r in await asyncio.gather(*(one(i) for i in items)) if r is not None]


async def check_started(client: Client, task_queue: str, case_id: str) -> str | None:
    """The case is on the server with the input the benchmark sent (whether it is still
    running, `settle` tells)."""
    handle = client.get_workflow_handle(case_id)
    try:
        async for ev in handle.fetch_history_events():
            if ev.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                return f"{case_id}: the history does not begin with its start"
            attrs = ev.workflow_execution_started_event_attributes
            (start,) = await client.data_converter.decode(attrs.input.payloads, [CaseStart])
            break
        else:
            return f"{case_id}: no history"
    except Exception as exc:  # a missing case is what the check reports
        return f"{case_id}: {type(exc).__name__}: {exc}"
    got = (attrs.workflow_type.name, attrs.task_queue.name, start.case.case_id,
           start.case.procedure, start.procedure.name, start.case.controller.name,
           [(e.type, e.date) for e in start.case.events])
    want = ("EnforcementCase", task_queue, case_id, "fr-cnil", "fr-cnil", CONTROLLER,
            [("complaint_received", COMPLAINT)])
    if got != want:
        return f"{case_id}: started as {got}, expected {want}"
    return None


def check_answers(answers: dict[str, bytes], ids: list[str]) -> list[str]:
    """Every API case answered 201 with its case id and a run id."""
    wrong = []
    for case_id in ids:
        text = answers.get(case_id)
        body = json.loads(text) if text else {}
        if body.get("case_id") != case_id or not body.get("run_id") \
                or body.get("url") != f"/cases/{case_id}":
            wrong.append(f"{case_id}: the API answered {text!r}")
    return wrong


async def first_task_done(client: Client, case_id: str) -> None:
    """Until the case's first workflow task is completed (a query before that waits for it
    behind the workflow task timeout)."""
    done = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    while not [ev async for ev in client.get_workflow_handle(case_id).fetch_history_events()
               if ev.event_type == done]:
        await asyncio.sleep(0.1)


async def check_running(client: Client, task_queue: str, folder: Path,
                        sample: list[str]) -> list[str]:
    """A worker (this process) runs the sampled cases: each must be at the complaint stage
    with its complainant-progress deadline due when computed here."""
    from enforcement.ops.settings import Settings
    from worker import build_worker

    # the worker's activities log each register write: only their errors here
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    settings = Settings(task_queue=task_queue,
                        database_url=f"sqlite:///{folder / 'check-register.db'}",
                        activity_threads=4)
    due = progress_due()
    wrong = []
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, executor):
            for case_id in sample:
                handle = client.get_workflow_handle(case_id)
                try:
                    await asyncio.wait_for(first_task_done(client, case_id), 120)
                    st = await handle.query("status", result_type=CaseStatus)
                except Exception as exc:  # a case that cannot answer is what it reports
                    wrong.append(f"{case_id}: no status: {type(exc).__name__}: {exc}")
                    continue
                dues = {d.name: d.due for d in st.deadlines}
                got = (st.case_id, st.procedure, st.stage, st.controller.name,
                       dues.get("complainant_progress"))
                want = (case_id, "fr-cnil", "complaint", CONTROLLER, due)
                if got != want:
                    wrong.append(f"{case_id}: status {got}, expected {want}")
    return wrong


async def check(address: str, task_queue: str, folder: Path, opened: dict[str, list[str]],
                answers: dict[str, bytes]) -> tuple[int, list[str]]:
    """The number of cases checked and what was wrong with them."""
    client = await Client.connect(address, data_converter=PLAIN_CONVERTER)
    every = [case_id for ids in opened.values() for case_id in ids]
    wrong = check_answers(answers, opened["api"])
    wrong += await gather_limited(every, lambda c: check_started(client, task_queue, c))
    # The first ones of each side: the worker meets them first in the task queue, behind
    # only the tasks of terminated cases.
    sample = [case_id for ids in opened.values() for case_id in ids[:SAMPLE]]
    wrong += await gather_limited([c for c in every if c not in sample],
                                  lambda c: settle(client, c))
    wrong += await check_running(client, task_queue, folder, sample)
    return len(every), wrong


async def settle(client: Client, case_id: str) -> str | None:
    """Terminate a case that is not in the sample, refused unless it is running."""
    try:
        await client.get_workflow_handle(case_id).terminate("intake benchmark: checked")
    except Exception as exc:  # a case that is not running is what the check reports
        return f"{case_id}: not running: {type(exc).__name__}: {exc}"
    return None


def start_api(address: str, task_queue: str, token: str, log: Path) -> tuple[
        subprocess.Popen[bytes], int]:
    """The API in its own process (what `make run` runs, without the dev server and worker),
    on a free loopback port; returns the process and its port."""
    port_file = log.with_suffix(".port")
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "ENFORCE_TASK_QUEUE": task_queue,
           "ENFORCE_API_TOKENS": json.dumps({token: {"role": "regulator", "name": "bench"}}),
           "ENFORCE_LOG_JSON": "true"}
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, __file__, "--serve-api", str(port_file)],
                                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    for _ in range(600):
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"the API did not start: {log.read_text()[-2000:]}")


async def serve_api(port_file: Path) -> None:
    """--serve-api: the API alone, as `enforcement.ops.run` serves it."""
    import uvicorn

    from enforcement.interfaces.api import create_app
    from enforcement.ops.logs import configure
    from enforcement.ops.run import ApiServer, bind
    from enforcement.ops.settings import get_settings

    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    sock = bind("127.0.0.1", 0)
    server = ApiServer(uvicorn.Config(create_app(settings), log_config=None, access_log=False,
                                      lifespan="on"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    port_file.write_text(str(sock.getsockname()[1]))
    await task


async def main(args: argparse.Namespace) -> int:
    n, rounds, concurrency = args.cases, args.rounds, args.concurrency
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        folder = Path(tmp)
        extra = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS,
            dev_server_existing_path=binary("temporal"),
            dev_server_database_filename=None if args.memory else str(folder / "temporal.db"),
            dev_server_extra_args=[] if args.memory else extra,
            dev_server_log_level="error")
        client = env.client
        address = client.service_client.config.target_host
        task_queue = f"bench-{uuid.uuid4().hex[:6]}"
        token = secrets.token_urlsafe(24)
        api, port = start_api(address, task_queue, token, folder / "api.log")
        worker = None
        if args.worker:
            worker = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")], cwd=ROOT,
                env={**os.environ, "TEMPORAL_ADDRESS": address, "ENFORCE_TASK_QUEUE": task_queue,
                     "ENFORCE_DATABASE_URL": f"sqlite:///{folder / 'register.db'}",
                     "ENFORCE_LOG_LEVEL": "WARNING"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs = {"bench": os.getpid(), "api": api.pid,
                 "temporal": dev_server_pid(address.rsplit(":", 1)[1])}
        rates: dict[str, list[float]] = {"raw": [], "api": []}
        cpu: dict[str, dict[str, float]] = {"raw": {}, "api": {}}
        opened: dict[str, list[str]] = {"raw": [], "api": []}
        answers: dict[str, bytes] = {}
        try:
            warm = max(50, concurrency * 2)
            await raw_round(client, task_queue, warm, concurrency, "warm-raw")
            opened["raw"] += case_ids(warm, "warm-raw")
            await api_round(port, token, warm, concurrency, "warm-api", answers)
            opened["api"] += case_ids(warm, "warm-api")
            for r in range(rounds):
                for side in (("raw", "api") if r % 2 == 0 else ("api", "raw")):
                    tag = f"{side}-{r}-{uuid.uuid4().hex[:4]}"
                    before = {k: cpu_seconds(pid) for k, pid in procs.items() if pid}
                    rate = (await raw_round(client, task_queue, n, concurrency, tag)
                            if side == "raw" else
                            await api_round(port, token, n, concurrency, tag, answers))
                    opened[side] += case_ids(n, tag)
                    for k, t0 in before.items():
                        used = cpu_seconds(procs[k]) - t0
                        cpu[side][k] = cpu[side].get(k, 0.0) + used * 1000 / n / rounds
                    rates[side].append(rate)
                    print(f"  round {r + 1} {side:>3}: {rate:7.1f} cases/s", flush=True)
            api.send_signal(signal.SIGTERM)
            api.wait(30)
            checked, wrong = await check(address, task_queue, folder, opened, answers)
        except Exception:
            print(f"the API's log ends with:\n{(folder / 'api.log').read_text()[-3000:]}",
                  file=sys.stderr)
            raise
        finally:
            if api.poll() is None:
                api.send_signal(signal.SIGTERM)
                api.wait(30)
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
            await env.shutdown()
    raw, through_api = statistics.median(rates["raw"]), statistics.median(rates["api"])
    ratio = through_api / raw
    print()
    print(f"cases opened per second ({n} per round, {rounds} rounds, {concurrency} in flight, "
          f"{'in-memory' if args.memory else 'SQLite WAL'} dev server, "
          f"{'worker running' if args.worker else 'no worker polling'}):")
    print(f"  raw client.start_workflow  {raw:7.1f} /s  (median)")
    print(f"  POST /cases through the API {through_api:6.1f} /s  (median)")
    print(f"  API / raw                  {ratio:7.2f}   (goal >= {GOAL})")
    for side in ("raw", "api"):
        print(f"  CPU per case, {side:>3} rounds: " + ", ".join(
            f"{k} {v:.2f} ms" for k, v in cpu[side].items()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, temporalio {importlib.metadata.version('temporalio')}, "
          f"fastapi {importlib.metadata.version('fastapi')}, "
          f"uvicorn {importlib.metadata.version('uvicorn')}")
    if wrong:
        print(f"CHECK FAILED: {len(wrong)} problems among the {checked} cases opened, e.g.",
              file=sys.stderr)
        for line in wrong[:10]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"check: all {checked} cases opened are on the server with the input sent; "
          f"the {2 * SAMPLE} run by a worker are at the complaint stage, complainant "
          f"progress due {progress_due()}")
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="cases per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="150 cases, 2 rounds")
    parser.add_argument("--memory", action="store_true", help="in-memory dev server")
    parser.add_argument("--worker", action="store_true",
                        help="run a worker (its own process) during the measurement")
    parser.add_argument("--serve-api", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_api is not None:
        asyncio.run(serve_api(args.serve_api))
        return
    if args.quick:
        args.cases, args.rounds = 150, 2
    sys.exit(asyncio.run(main(args)))


if __name__ == "__main__":
    cli()
