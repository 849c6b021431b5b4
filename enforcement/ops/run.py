"""`make run`: the whole engine in one command.

With TEMPORAL_ADDRESS unset it starts the embedded Temporal dev server (SQLite file under
var/, web UI), then runs the worker and the HTTP API together in this process and event
loop, prints where everything is, and stops all three cleanly on Ctrl-C or SIGTERM. With
TEMPORAL_ADDRESS set it connects to that cluster instead and starts no server.

On the embedded server, when no ENFORCE_API_TOKENS is set, it creates one token per role in
var/api-tokens.json (kept across restarts) and writes each to var/tokens/<role> for curl.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from enforcement.interfaces.api import TokenError, create_app, load_grants
from enforcement.ops import metrics
from enforcement.ops.logs import configure
from enforcement.ops.process import leave
from enforcement.ops.settings import Settings, get_settings
from enforcement.ops.temporal import address_file, connect, start_dev_server

log = structlog.get_logger("run")

DEV_CONTROLLER = "Clearview AI Inc."


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything starts so a taken port is said
    at once (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def ensure_dev_tokens(settings: Settings) -> dict[str, str]:
    """One token per role for the embedded setup: read from the token file, or created.
    Returns role -> token and writes each to var/tokens/<role> (mode 600)."""
    path = settings.api_tokens_file
    grants: dict[str, dict[str, str]] = {}
    if path.is_file():
        grants = json.loads(path.read_text(encoding="utf-8"))
    else:
        grants = {
            secrets.token_urlsafe(24): {"role": "regulator", "name": "dev regulator"},
            secrets.token_urlsafe(24): {"role": "controller", "controller": DEV_CONTROLLER,
                                        "name": "dev controller"},
            secrets.token_urlsafe(24): {"role": "viewer", "name": "dev viewer"},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps(grants, indent=2) + "\n")
    by_role: dict[str, str] = {}
    for token, grant in grants.items():
        by_role.setdefault(grant.get("role", ""), token)
    folder = path.parent / "tokens"
    folder.mkdir(parents=True, exist_ok=True)
    for role, token in by_role.items():
        if role:
            _write_private(folder / role, token + "\n")
    return by_role


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


DEFAULT_TEMPORAL_PORT = 7233


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts a TCP connection there."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def banner(settings: Settings, api_port: int, embedded: bool,
           tokens: dict[str, str] | None) -> str:
    host = settings.api_host
    shown = f"[{host}]" if ":" in host else host
    api = f"http://{shown}:{api_port}"
    temporal = settings.temporal_address or f"127.0.0.1:{settings.dev_server_port}"
    lines = ["", "Enforcement engine running:",
             f"  console      {api}/  (sign in with a token from the API tokens line)",
             f"  API          {api}",
             f"  API docs     {api}/docs",
             f"  Temporal     {temporal} (namespace {settings.temporal_namespace}, task queue "
             f"{settings.task_queue})"]
    if embedded:
        lines.append(f"  Temporal UI  http://127.0.0.1:{settings.dev_server_ui_port}")
    lines.append(f"  register     {settings.database_url.split('@')[-1]}")
    if settings.metrics_address:
        lines.append(f"  metrics      http://{settings.metrics_address}/metrics")
    if tokens:
        folder = settings.api_tokens_file.parent / "tokens"
        lines.append(f"  API tokens   {settings.api_tokens_file} (one per role; e.g. "
                     f"TOKEN=$(cat {folder / 'regulator'}))")
    lines += ["Ctrl-C stops everything.", ""]
    return "\n".join(lines)


async def serve(settings: Settings) -> int:
    """Run the dev server (when embedded), the worker and the API until a signal."""
    from worker import (  # the worker entry point (repository root)
        build_worker,
        register_gauges,
        start_schedules,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    embedded = settings.temporal_address is None
    tokens = ensure_dev_tokens(settings) if embedded and not settings.api_tokens else None
    try:
        load_grants(settings)
        sock = bind(settings.api_host, settings.api_port)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {settings.api_host}:{settings.api_port} ({exc.strerror})"
              f"; set ENFORCE_API_PORT to another port", file=sys.stderr)
        return 2
    env: WorkflowEnvironment | None = None
    try:
        runtime = metrics.install(settings)
    except metrics.MetricsUnavailable as exc:
        sock.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if embedded:
            log.info("starting embedded Temporal dev server", db=str(settings.dev_server_db))
            env = await start_dev_server(settings)
            client: Client = env.client
        else:
            client = await connect(settings)
    except Exception as exc:
        sock.close()
        what = ("start the embedded Temporal dev server" if embedded
                else f"connect to Temporal at {settings.temporal_address}")
        print(f"error: cannot {what}: {exc}", file=sys.stderr)
        return 1
    if embedded:  # for the CLI in another terminal (enforcement.ops.temporal.connect)
        address_file(settings).write_text(f"127.0.0.1:{settings.dev_server_port}\n",
                                          encoding="utf-8")
        if settings.dev_server_port != DEFAULT_TEMPORAL_PORT and answers(
                "127.0.0.1", DEFAULT_TEMPORAL_PORT):
            print(f"warning: another server answers on 127.0.0.1:{DEFAULT_TEMPORAL_PORT}; "
                  f"this engine's Temporal is 127.0.0.1:{settings.dev_server_port} (written "
                  f"to {address_file(settings)}, which the CLI reads; a TEMPORAL_ADDRESS "
                  "set in your shell overrides it)", file=sys.stderr, flush=True)
    if not tokens and not load_grants(settings):
        log.warning("no API tokens: every request will get 401; set ENFORCE_API_TOKENS")
    try:
        with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
            worker = build_worker(client, settings, executor)
            server = ApiServer(uvicorn.Config(create_app(settings, client), log_config=None,
                                              access_log=False, lifespan="on"))
            async with worker, register_gauges(settings, runtime):
                await start_schedules(client, settings)
                api = asyncio.create_task(server.serve(sockets=[sock]))
                while not server.started and not api.done():
                    await asyncio.sleep(0.05)
                if api.done():
                    await api
                    return 1
                print(banner(settings, sock.getsockname()[1], embedded, tokens), flush=True)
                log.info("running", api_port=sock.getsockname()[1])
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({api, stopped}, return_when=asyncio.FIRST_COMPLETED)
                log.info("shutting down")
                server.should_exit = True
                await api
                stopped.cancel()
    finally:
        sock.close()
        if env is not None:
            address_file(settings).unlink(missing_ok=True)
            await env.shutdown()
    log.info("stopped")
    return 0


def main() -> None:
    # Files this process and the dev server create (the register, Temporal's database,
    # logs) hold case data: readable by their owner only.
    os.umask(0o077)
    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    leave(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
