"""The whole engine for tests that need it running: a Temporal dev server, a worker on a
fresh task queue, the outcome register on SQLite and (optionally) the API and console on a
loopback port, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.interfaces.api import create_app
from enforcement.ops.run import ApiServer, bind
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import SEARCH_KEYS, binary
from tests.fixtures_temporal import running_worker

T = TypeVar("T")
REGULATOR = "regulator-token-0123456789"
CLEARVIEW_TOKEN = "controller-clearview-0123456789"
ACME_TOKEN = "controller-acme-0123456789"
VIEWER = "viewer-token-0123456789"
CONTROLLER_SECRET = b"listing-key-for-the-tests"
TOKENS = {
    REGULATOR: {"role": "regulator", "name": "case handler"},
    CLEARVIEW_TOKEN: {"role": "controller", "controller": "Clearview AI Inc."},
    ACME_TOKEN: {"role": "controller", "controller": "Acme SA"},
    VIEWER: {"role": "viewer"},
}

class Stack:
    """A dev server, a worker on a fresh task queue and (optionally) the API, in a thread
    with its own event loop, so tests may block while the engine keeps running."""

    def __init__(self, register_dir: Path, api: bool = True) -> None:
        self.register_url = f"sqlite:///{register_dir / 'register.db'}"
        self.api = api
        self.address = ""
        self.task_queue = ""
        self.base_url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.client: Client | None = None
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)

    def __enter__(self) -> Stack:
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("the engine did not start in 120 s")
        if self._error is not None:
            raise RuntimeError("the engine did not start") from self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the engine's event loop (with its Temporal client) and wait."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test that waits for the start
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, search_attributes=SEARCH_KEYS,
            dev_server_existing_path=binary("temporal"))
        try:
            self.address = env.client.service_client.config.target_host
            self.client = env.client
            migrate(self.register_url)
            register = Register(make_engine(self.register_url))
            async with running_worker(env.client, register) as tq:
                self.task_queue = tq
                if not self.api:
                    self._ready.set()
                    await self._stop.wait()
                    return
                cfg = Settings(task_queue=tq, api_tokens=TOKENS, database_url=self.register_url,
                               controller_key=SecretStr(CONTROLLER_SECRET.decode()))
                sock = bind("127.0.0.1", 0)
                self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
                server = ApiServer(uvicorn.Config(create_app(cfg, env.client), log_config=None,
                                                  access_log=False, lifespan="on"))
                task = asyncio.create_task(server.serve(sockets=[sock]))
                while not server.started:
                    if task.done():
                        await task
                        raise RuntimeError("the API stopped at start-up")
                    await asyncio.sleep(0.02)
                self._ready.set()
                await self._stop.wait()
                server.should_exit = True
                await task
                sock.close()
        finally:
            await env.shutdown()
