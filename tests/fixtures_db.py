"""Register databases for tests: every test that asks for one runs on SQLite and PostgreSQL.

PostgreSQL is expected on 127.0.0.1:5432 with trust authentication for `postgres` (override
with TEST_POSTGRES_URL). Each test gets a freshly created database, dropped afterwards. When
PostgreSQL is unreachable the postgresql case fails if CI is set, and is skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy import make_url

from activities.register import Register
from activities.register_db import make_engine, migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection[TupleRow]:
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: the PostgreSQL tests must run)")
        pytest.skip(f"{reason} (start PostgreSQL or set TEST_POSTGRES_URL to run them)")


def _database_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test; dropped afterwards."""
    name = f"register_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _database_url(name)
    finally:
        with _admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def register_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 ) -> str:
    """An empty register database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        # A folder that does not exist yet: make_engine creates it.
        path = tmp_path_factory.mktemp("register") / "var" / "register.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def register(register_url: str) -> Iterator[Register]:
    """A Register on a migrated, empty database."""
    migrate(register_url)
    engine = make_engine(register_url)
    try:
        yield Register(engine)
    finally:
        engine.dispose()
