"""`make run` installs only what the engine needs (requirements.lock); `make test` adds the
tools (requirements-dev.lock). Every dependency pyproject.toml declares is pinned in the
right file, and no test or lint tool reaches the runtime set (nor the Docker image, which
installs requirements.lock)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            pkg, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", pkg).lower()] = version
    return out


def declared(specs: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ;]", s, maxsplit=1)[0]).lower()
            for s in specs}


def test_runtime_and_tools_are_pinned_apart() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert "-r requirements.lock" in (ROOT / "requirements-dev.lock").read_text()
    assert declared(project["dependencies"]) <= set(runtime)
    assert declared(project["optional-dependencies"]["dev"]) <= set(dev)
    assert not {"pytest", "mypy", "ruff", "hypothesis", "schemathesis"} & set(runtime)
    assert not set(runtime) & set(dev)  # each package pinned once
