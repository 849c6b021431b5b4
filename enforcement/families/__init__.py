"""Procedure families: each module holds one kind of procedure (its stages, the events each
stage accepts, the deadlines its events open and meet, what their expiry leads to, its caps),
written against the case machine shared by all (enforcement.case.machine). A procedure file
names its family and gives the parameters (procedures/*.toml).

- `cnil` (cnil.py): the CNIL's sanction procedure, ordinary, simplified and urgency.
- `uk-ico` (uk_ico.py): the UK ICO's information, enforcement and penalty notices under the
  Data Protection Act 2018.

This module maps a procedure to its family's machine, and loads the procedure files checked
against the family they name (its periods all given)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from enforcement.case.machine import Machine, legal_order
from enforcement.case.models import CaseInput, Event
from enforcement.case.procedure import Procedure, ProcedureError
from enforcement.case.procedure import all_procedures as _all_files
from enforcement.families.cnil import CnilMachine
from enforcement.families.uk_ico import IcoMachine

FAMILIES: dict[str, type[Machine]] = {
    CnilMachine.FAMILY: CnilMachine,
    IcoMachine.FAMILY: IcoMachine,
}
# Before schema 3 every procedure ran the CNIL's stages, whatever its file said.
DEFAULT_FAMILY = CnilMachine.FAMILY

# Every stage of every family, "closed" last (a listing's filter accepts any of them).
ALL_STAGES: tuple[str, ...] = (*dict.fromkeys(
    s for cls in FAMILIES.values() for s in cls.STAGES), "closed")
# The stages some family runs in its second workflow (SanctionProcedure).
HANDED_OFF_STAGES: frozenset[str] = frozenset(
    s for cls in FAMILIES.values() for s in cls.HANDED_OFF)


def family_of(proc: Procedure) -> str:
    """The family a procedure runs: the one its file names from schema 3; the CNIL's for
    older files and for the copies of them held in running cases."""
    return (proc.family or DEFAULT_FAMILY) if proc.schema_version >= 3 else DEFAULT_FAMILY


def machine_class(proc: Procedure) -> type[Machine]:
    name = family_of(proc)
    try:
        return FAMILIES[name]
    except KeyError:
        raise ProcedureError(f"procedure {proc.name!r}: unknown family {name!r}; accepted: "
                             f"{', '.join(FAMILIES)}") from None


def open_machine(inp: CaseInput, proc: Procedure, now: datetime, **options: Any) -> Machine:
    """A new case under `proc`, on its family's machine."""
    return machine_class(proc).open(inp, proc, now, **options)


def in_legal_order(events: list[Event], proc: Procedure) -> list[tuple[int, Event]]:
    """Events by legal date; on the same instant in the family's stage order."""
    return legal_order(events, proc.cal, machine_class(proc).EVENT_ORDER)


def accepted_at(proc: Procedure, stage: str) -> tuple[str, ...]:
    """The events a case of `proc` at `stage` accepts by its stage (ANYTIME and the
    corrections aside)."""
    return machine_class(proc).ACCEPTS.get(stage, ())


def check_family(proc: Procedure) -> type[Machine]:
    """The procedure's family machine; ProcedureError naming what the file lacks for it."""
    cls = machine_class(proc)
    missing = [p for p in cls.REQUIRED_PERIODS if getattr(proc.periods, p) is None]
    if missing:
        raise ProcedureError(f"{proc.name}.toml: periods: the {cls.FAMILY} family needs "
                             f"{', '.join(missing)}")
    lacking = [c for c in cls.REQUIRED_CUTOVERS if c not in proc.cutovers]
    if lacking:
        raise ProcedureError(f"{proc.name}.toml: cutovers: the {cls.FAMILY} family needs "
                             f"{', '.join(lacking)}")
    lacking = [c for c in cls.REQUIRED_CAPS if getattr(proc.caps, c) is None]
    if lacking:
        raise ProcedureError(f"{proc.name}.toml: caps: the {cls.FAMILY} family needs "
                             f"{', '.join(lacking)}")
    return cls


def all_procedures(directory: Path | None = None) -> dict[str, Procedure]:
    """Every procedure file, each checked against its family."""
    found = _all_files(directory)
    for proc in found.values():
        check_family(proc)
    return found


def get_procedure(name: str, directory: Path | None = None) -> Procedure:
    procs = all_procedures(directory)
    try:
        return procs[name]
    except KeyError:
        raise ProcedureError(
            f"unknown procedure {name!r}; available: {', '.join(procs) or 'none'}") from None
