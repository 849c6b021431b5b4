"""Alembic environment for the outcome register, configured in code.

`activities.register_db.migrate(url)` builds the Config (no alembic.ini) and hands over an
open connection in `config.attributes["connection"]`; without one, the URL comes from
`config.attributes["url"]` or the `sqlalchemy.url` main option. The whole upgrade runs in
one transaction: SQLite takes the write lock (BEGIN IMMEDIATE), PostgreSQL an advisory
lock, so two processes migrating at once apply each revision once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from alembic import context
from sqlalchemy import Connection, text

from activities.register_db import WRITE, make_engine, metadata

# Any constant; serialises concurrent `migrate` runs on one PostgreSQL database.
PG_MIGRATION_LOCK = 0x656E_666F_7263_65  # "enforce"

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no register URL: pass it in Config.attributes['url']")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    connection.execution_options(**{WRITE: True})
    outer: AbstractContextManager[object] = (
        nullcontext() if connection.in_transaction() else connection.begin())
    with outer:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transactional_ddl=True,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                               {"k": PG_MIGRATION_LOCK})
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
