"""What the benchmarks read of their processes: the dev server's pid, CPU time used."""

from __future__ import annotations

import os
from pathlib import Path


def dev_server_pid(port: str) -> int:
    """The dev server's process (started by the SDK, which does not say its pid); 0 if not
    found."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"start-dev" in args and port.encode() in args:
                return int(entry.name)
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
