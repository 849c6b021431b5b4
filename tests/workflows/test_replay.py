"""Cases live for years: the recorded histories of a full case must replay with the current
workflow code (changes go behind workflow.patched())."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure

HERE = Path(__file__).resolve().parents[1]  # tests/: its histories/ folder
HISTORIES = sorted((HERE / "histories").glob("*.json"))


async def replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[EnforcementCase, SanctionProcedure],
                        data_converter=pydantic_data_converter,
                        workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_histories_are_committed() -> None:
    assert {p.name for p in HISTORIES} >= {"clearview_case.json", "clearview_sanction.json",
                                           "amended_case.json", "amended_sanction.json",
                                           "updates_case.json"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    await replay(path)


# A new process that loads nothing but the workflows before it replays, as a restarted worker.
FRESH_WORKER = """
import asyncio, sys
from pathlib import Path
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from workflows import workflow_runner
from workflows.case import EnforcementCase, SanctionProcedure
path = Path(sys.argv[1])
replayer = Replayer(workflows=[EnforcementCase, SanctionProcedure],
                    data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
history = WorkflowHistory.from_json(path.stem, path.read_text())
asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
# replayed: leave without the interpreter's teardown, which the SDK's native threads can
# abort (temporalio/sdk-python#300), as the CLI leaves (enforcement.ops.process.leave)
import os
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_a_fresh_worker_replays_the_history(path: Path) -> None:
    """The first workflow a restarted worker replays may be a sanction-stage one, with no
    calendar loaded yet."""
    done = subprocess.run([sys.executable, "-c", FRESH_WORKER, str(path)], cwd=HERE.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
