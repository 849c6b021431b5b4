"""`enforce forecast` against running cases: their states read from the workflows on the
dev server (the `state` query, from the sanction-stage workflow once it holds the case), each
carried forward, counted per week. Dates are relative to today (the dev server's clock is
real); each expected week is the day difference from today divided by 7."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Event
from enforcement.ops.temporal import case_status, open_case, open_case_states
from enforcement.simulation.forecast import forecast, parse_assumptions
from tests.fixtures_temporal import running_worker

ENFORCE = Path(sys.executable).parent / "enforce"
NO_STEPS = "procedures:\n  fr-cnil: []\n"


def ev(**data: Any) -> Event:
    return EVENT_ADAPTER.validate_python(data)


def ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


async def test_open_cases_are_read_and_carried_forward(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = dev_env.client
    url = f"sqlite:///{tmp_path / 'register.db'}"
    migrate(url)
    register = Register(make_engine(url))
    tag = uuid.uuid4().hex[:6]
    fresh, referred = f"FC-{tag}-fresh", f"FC-{tag}-referred"
    async with running_worker(client, register) as tq:
        # a formal notice of 10 days ago with 2 months: pending, due in about 7 weeks
        await open_case(client, CaseInput(
            case_id=fresh, controller=Controller(name="Fresh SA", country="FR"),
            events=[ev(type="formal_notice_issued", date=ago(10), period="2 months")]), tq)
        # one of 150 days ago with 1 month: ran out, the case referred to the sanction stage
        await open_case(client, CaseInput(
            case_id=referred, controller=Controller(name="Late SA", country="FR"),
            events=[ev(type="formal_notice_issued", date=ago(150), period="1 month")]), tq)
        for _ in range(100):
            if (await case_status(client, referred)).stage == "referred":
                break
            await asyncio.sleep(0.1)
        states: dict[str, Any] = {}
        for _ in range(100):  # the listing reads visibility, a moment behind
            found, unread = await open_case_states(client, "fr-cnil")
            states = {s.case_id: s for s in found}
            if {fresh, referred} <= set(states) and not unread:
                break
            await asyncio.sleep(0.1)
        assert states[referred].stage == "referred"
        assert states[referred].workflow_id == f"{referred}:sanction"
        assert [d.status for d in states[referred].deadlines] == ["missed"]
        due = date.fromisoformat(states[fresh].deadlines[0].due)
        week = (due - date.today()).days // 7
        f = forecast([states[fresh], states[referred]], parse_assumptions(NO_STEPS),
                     now=datetime.now(UTC), weeks=12, runs=3)
        rows = {(r["kind"], r["week"], r["procedure"]): r for r in f.rows()}
        assert rows[("deadlines", week, "*")]["p50"] == 1
        assert sum(rows[("deadlines", w, "*")]["mean"] for w in range(12)) == 1
        # the fresh notice runs out unanswered; the referral follows its grace, within
        # the next two weeks (5 working days)
        assert sum(rows[("referrals", w, "*")]["mean"] for w in (week, week + 1, week + 2)) \
            == 1

        # the same through the CLI, reading the cases itself
        env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host}
        assumptions = tmp_path / "a.yaml"
        assumptions.write_text(NO_STEPS)
        done = await asyncio.to_thread(  # the worker answers in this loop meanwhile
            subprocess.run,
            [str(ENFORCE), "forecast", "--assumptions", str(assumptions), "--runs", "3",
             "--procedure", "fr-cnil", "--json", "--csv", str(tmp_path / "f.csv"),
             "--plot", str(tmp_path / "f.png")],
            capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["cases"] >= 2 and doc["runs"] == 3 and doc["left_out"] == []
        stages = {r["stage"] for r in doc["rows"] if r["procedure"] == "fr-cnil"}
        assert {"formal_notice", "referred"} <= stages
        assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / "f.csv").read_text().startswith("week,from,to,procedure,stage")
