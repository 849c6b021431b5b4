"""The console's case register: time to render its first page at 1,000 and 5,000 cases, next
to the JSON list endpoint (`GET /cases`) on the same cases in the same run.

    .venv/bin/python benchmarks/console.py              # 1,000 and 5,000 cases, ~2 min
    .venv/bin/python benchmarks/console.py --quick      # 120 cases, seconds

One Temporal dev server (in memory, the engine's search attributes) is started here. The
cases are workflows started with the search attributes a running case carries (stage,
procedure, next deadline, country) on a task queue no worker polls: the register and the
JSON list read only the visibility store and, for the console's controller names, the
outcome register (a SQLite file filled here). No worker runs: what is measured is the
listing, not the processing of cases. Both sides go through the same app in this process
over the same transport (httpx's ASGI transport), signed in as a regulator:

- json: `GET /cases?limit=50` with a bearer token: the first 50 cases, earliest deadline
  first, as JSON;
- console: `GET /console/cases` with the session cookie: the same 50 cases as an HTML page
  (the names from the register, days left, highlights, pages);
- console sorted: `GET /console/cases?sort=case` (every case sorted by id in memory).

Rounds alternate the sides; each figure is the median of the rounds, and the ratio is the
console's time over the JSON list's.

The check, untimed (the exit status): both answers list the same 50 cases, in the order of
the deadlines set here; the page says "Page 1 of P (N cases)" with N the number started
here; each row shows its controller's name and the last day of its deadline, computed here
from the instant set (24:00 Paris time on that day).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from temporalio.common import SearchAttributePair, TypedSearchAttributes  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities import register_db as db  # noqa: E402
from enforcement.interfaces.api import create_app  # noqa: E402
from enforcement.ops.settings import Settings  # noqa: E402
from enforcement.ops.temporal import SEARCH_KEYS, binary  # noqa: E402
from workflows.case import COUNTRY, NEXT_DEADLINE, PROCEDURE, STAGE  # noqa: E402

TOKEN = "benchmark-regulator-0123456789"
PARIS = ZoneInfo("Europe/Paris")
TODAY = date.today()
PAGE = 50


def due_day(i: int) -> date:
    """Case i's next deadline: its last day, spread over the coming months (ties allowed)."""
    return TODAY + timedelta(days=(i * 37) % 180 + 1)


def expires(d: date) -> datetime:
    """24:00 Paris time on `d` (00:00 of the next day there), as the engine sets it."""
    return datetime.combine(d + timedelta(days=1), datetime.min.time(), PARIS)


async def fill(env: WorkflowEnvironment, n: int, url: str) -> None:
    client = env.client
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        attrs = TypedSearchAttributes([
            SearchAttributePair(STAGE, "formal_notice" if i % 3 else "complaint"),
            SearchAttributePair(PROCEDURE, "fr-cnil"),
            SearchAttributePair(NEXT_DEADLINE, expires(due_day(i))),
            SearchAttributePair(COUNTRY, "FR")])
        async with gate:
            await client.start_workflow("EnforcementCase", {"case": f"B-{i:05d}"},
                                        id=f"B-{i:05d}", task_queue="nobody-polls-this",
                                        search_attributes=attrs)

    await asyncio.gather(*(one(i) for i in range(n)))
    engine = sqlalchemy.create_engine(url)
    db.metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(db.cases.insert(), [
            {"case_id": f"B-{i:05d}", "procedure": "fr-cnil", "controller_name":
             f"Controller {i} SA", "controller_country": "FR", "status": "open",
             "opened_at": now, "updated_at": now} for i in range(n)])
    engine.dispose()
    # visibility is eventually consistent: wait until every case is listed
    for _ in range(600):
        if (await client.count_workflows("WorkflowType = 'EnforcementCase'")).count >= n:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the {n} cases never all appeared in the listing")


def expected_first_page(n: int) -> list[str]:
    order = sorted(range(n), key=lambda i: (expires(due_day(i)), f"B-{i:05d}"))
    return [f"B-{i:05d}" for i in order[:PAGE]]


async def measure(n: int, rounds: int) -> dict[str, Any]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/register.db"
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS,
            dev_server_existing_path=binary("temporal"))
        try:
            t0 = time.perf_counter()
            await fill(env, n, url)
            filled = time.perf_counter() - t0
            settings = Settings(api_tokens={TOKEN: {"role": "regulator"}}, database_url=url,
                                controller_key=SecretStr("benchmark-key"))
            app = create_app(settings, env.client)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         timeout=120) as http:
                page = await http.get("/console/sign-in")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert csrf is not None
                r = await http.post("/console/sign-in", data={"csrf": csrf.group(1),
                                                              "token": TOKEN})
                assert r.status_code == 303, r.text
                sides: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                    "json": lambda: http.get("/cases", params={"limit": PAGE},
                                             headers={"Authorization": f"Bearer {TOKEN}"}),
                    "console": lambda: http.get("/console/cases"),
                    "console sorted": lambda: http.get("/console/cases",
                                                       params={"sort": "case"}),
                }
                times: dict[str, list[float]] = {k: [] for k in sides}
                answers: dict[str, httpx.Response] = {}
                for k, call in sides.items():  # warm-up, and the answers checked below
                    answers[k] = await call()
                for _ in range(rounds):
                    for k, call in sides.items():
                        t = time.perf_counter()
                        r = await call()
                        times[k].append(time.perf_counter() - t)
                        if r.status_code != 200:
                            problems.append(f"{k}: HTTP {r.status_code}")
        finally:
            await env.shutdown()
    want = expected_first_page(n)
    got_json = [c["case_id"] for c in answers["json"].json()["cases"]]
    html = answers["console"].text
    got_page = re.findall(r'data-case="([^"]+)"', html)
    if got_json != want:
        problems.append(f"json: first page {got_json[:3]}... expected {want[:3]}...")
    if got_page != want:
        problems.append(f"console: first page {got_page[:3]}... expected {want[:3]}...")
    pages = -(-n // PAGE)
    if f"Page 1 of {pages} ({n} cases)" not in html:
        problems.append(f"console: no 'Page 1 of {pages} ({n} cases)'")
    for case_id in want[:5]:
        i = int(case_id[2:])
        row = re.search(rf'data-case="{case_id}">(.*?)</tr>', html, re.S)
        if row is None or f"Controller {i} SA" not in row.group(1) \
                or due_day(i).isoformat() not in row.group(1):
            problems.append(f"console: row {case_id} lacks its controller or due day "
                            f"{due_day(i)}")
    sorted_ids = re.findall(r'data-case="([^"]+)"', answers["console sorted"].text)
    if sorted_ids != [f"B-{i:05d}" for i in range(min(n, PAGE))]:
        problems.append("console sorted: not the first cases by id")
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"n": n, "filled_s": filled, "median_s": med, "problems": problems,
            "ratio": med["console"] / med["json"],
            "ratio_sorted": med["console sorted"] / med["json"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="120 cases, 3 rounds")
    ap.add_argument("--cases", type=int, nargs="+", default=[1_000, 5_000])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    sizes, rounds = ([120], 3) if args.quick else (args.cases, args.rounds)
    failed = False
    print(f"case register, first page of {PAGE}; median of {rounds} rounds per side")
    for n in sizes:
        out = asyncio.run(measure(n, rounds))
        m = out["median_s"]
        print(f"{n:>6,} cases (started in {out['filled_s']:.1f} s): "
              f"json {m['json'] * 1000:.0f} ms, console {m['console'] * 1000:.0f} ms "
              f"({out['ratio']:.2f}x), console sorted by id "
              f"{m['console sorted'] * 1000:.0f} ms ({out['ratio_sorted']:.2f}x)")
        for p in out["problems"]:
            print(f"  CHECK FAILED: {p}")
        failed |= bool(out["problems"])
    print("check:", "FAILED" if failed else "ok (same first page on both sides, the "
          "count, names and due days as set)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
