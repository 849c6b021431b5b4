"""`make run` as a user runs it: the engine starts on its embedded defaults, answers, and
stops cleanly on Ctrl-C (exit 0, no interpreter abort after the "stopped" line)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_engine_starts_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    api, dev, ui = free_port(), free_port(), free_port()
    env = {**os.environ, "ENFORCE_API_PORT": str(api), "ENFORCE_DEV_SERVER_PORT": str(dev),
           "ENFORCE_DEV_SERVER_UI_PORT": str(ui),
           "ENFORCE_DEV_SERVER_DB": str(tmp_path / "temporal.db"),
           "ENFORCE_DATABASE_URL": f"sqlite:///{tmp_path / 'register.db'}",
           "ENFORCE_API_TOKENS_FILE": str(tmp_path / "tokens.json")}
    # another server on Temporal's default port (bound here unless one is already there)
    other = socket.socket()
    try:
        other.bind(("127.0.0.1", 7233))
        other.listen()
    except OSError:
        pass
    proc = subprocess.Popen([sys.executable, "-m", "enforcement.ops.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api}/health", timeout=2) as r:
                    assert r.read() == b'{"status":"ok"}'
                    break
            except OSError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.5)
        # GET / opens the console (its sign-in page)
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/", timeout=5) as r:
            assert r.url.endswith("/console/sign-in?next=%2Fconsole%2Fcases")
            assert "API token" in r.read().decode()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        other.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert f"  console      http://127.0.0.1:{api}/" in out
    assert (f"warning: another server answers on 127.0.0.1:7233; this engine's Temporal is "
            f"127.0.0.1:{dev}") in out
    assert '"event": "stopped"' in out
    assert "Fatal Python error" not in out
    # every file it wrote holds case data or keys: its owner's alone (the register was 0644)
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"register.db", "temporal.db", "tokens.json"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {
        p.name: "0o600" for p in written}
