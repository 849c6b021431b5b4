"""The outcome register's schema and engine: SQLite by default, PostgreSQL by URL.

The register is the durable record of every case outcome; it outlives the workflows. Rows
are written only by `activities.register.Register`; the schema is created and evolved by the
Alembic migrations in `activities/migrations`, applied with `migrate(url)`.

Timestamps are stored in UTC (`timestamptz` on PostgreSQL, ISO text on SQLite) and read back
as aware UTC datetimes on both. Calendar dates and deadline instants that the workflows
already rendered as text (event dates, due dates, `expires_at`) are kept as that text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Names every constraint and index explicitly so migrations can refer to them on both engines.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000

# Execution option: on SQLite, begin the transaction with BEGIN IMMEDIATE (take the write
# lock up front) so concurrent writers queue on busy_timeout instead of failing to upgrade a
# read lock. No effect on PostgreSQL.
WRITE = "register_write"


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive values are taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite keeps no offset: store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - driver returned text
            value = datetime.fromisoformat(str(value))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

register_keys = Table(
    "register_keys", metadata,
    Column("key", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index(None, "case_id"),
    comment="every applied idempotency key: an entry whose key is here is never applied again",
)

cases = Table(
    "cases", metadata,
    Column("case_id", Text, primary_key=True),
    Column("procedure", Text),
    Column("controller_name", Text),
    Column("controller_country", Text),
    Column("subject", Text),
    Column("stage", Text),
    Column("status", Text, nullable=False),
    Column("outcome", Text),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "status", "stage"),
    Index(None, "procedure"),
    comment="one row per case: its current stage, status and outcome",
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("case_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("date", Text, nullable=False),
    Column("event_id", Text),
    Column("data", JSON, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("prev_hash", Text, nullable=False, server_default=""),
    Column("row_hash", Text, nullable=False, server_default=""),
    # Since 0004 the chain hashes `public_digest`, SHA-256 of the row's data with its
    # personal values replaced, and `data_digest`, SHA-256 of `data_salt` and the full data.
    # Erasure replaces the data by that public form and drops the salt: the chain still
    # verifies (see activities.register.Register.erase). All NULL: a row chained before 0004.
    Column("data_salt", Text),
    Column("data_digest", Text),
    Column("public_digest", Text),
    Index(None, "case_id", "seq"),
    comment="append-only: every event applied to a case",
)

deadlines = Table(
    "deadlines", metadata,
    Column("case_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("trigger_date", Text),
    Column("period", Text),
    Column("due", Text),
    Column("expires_at", Text),
    Column("status", Text, nullable=False),
    Column("explanation", JSON),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "seq"),
    Index(None, "status", "due"),
    comment="current state of every deadline of a case",
)

deadline_changes = Table(
    "deadline_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("case_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("due", Text),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "case_id", "seq"),
    comment="append-only: every recorded state of a deadline",
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("case_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("fine_eur", BigInteger),
    Column("penalty_per_day_eur", BigInteger),
    Column("amount_eur", BigInteger),
    Column("injunction_due", Text),
    Column("publish", Boolean),
    Column("data", JSON, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Index(None, "case_id"),
    Index(None, "kind"),
    comment="append-only: sanctions, liquidations and other decisions",
)

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("case_id", Text, nullable=False),
    Column("party", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "case_id"),
    Index(None, "status"),
    comment="every message to a party, once per idempotency key",
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("receiver", Text, nullable=False),
    Column("case_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("key", "receiver"),
    Index(None, "case_id"),
    comment="each webhook event's outcome at each receiver, once: delivered or refused",
)

erasures = Table(
    "erasures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Text, nullable=False),
    Column("erased_at", UtcDateTime, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("rehashed", Integer, nullable=False, server_default="0"),
    Index(None, "case_id"),
    comment="every erasure of a case's personal data: when, and how many rows of each table",
)

# Tables a RegisterEntry may target, and every table of the register (for reads).
ENTRY_TABLES: tuple[str, ...] = ("cases", "events", "deadlines", "decisions", "notifications")
TABLES: dict[str, Table] = dict(metadata.tables)


def normalize_url(url: str | URL) -> URL:
    """PostgreSQL URLs without a driver use psycopg 3 (`postgresql+psycopg://`)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: str) -> Engine:
    """An engine for the register at `url`.

    SQLite: creates the file's folder; WAL journal, synchronous=NORMAL and a busy timeout
    on every connection; SQLAlchemy emits BEGIN itself (BEGIN IMMEDIATE for writes, see
    `WRITE`) so transactions, including DDL, are real transactions.
    PostgreSQL: psycopg 3, connections checked before use (the worker runs for months).
    """
    u = normalize_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:") and not u.query.get("uri"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u)
        _sqlite_events(engine)
        return engine
    if backend == "postgresql":
        return create_engine(u, pool_pre_ping=True)
    raise ValueError(f"the register runs on SQLite or PostgreSQL, not {backend!r} ({u!r})")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 module (its legacy mode skips it for SELECT and
        # DDL); the "begin" hook below emits it.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = bool(conn.get_execution_options().get(WRITE))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini at run time."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    # configparser interpolates '%': escape it so URL-encoded passwords survive.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).render_as_string(
        hide_password=False).replace("%", "%%"))
    cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(url: str) -> None:
    """Bring the register at `url` to the latest schema (Alembic `upgrade head`).

    Safe to run again (no-op at head) and from several processes at once: the migration
    runs in one transaction holding the write lock (SQLite) or an advisory lock (PostgreSQL).
    """
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            command.upgrade(alembic_config(url, conn), "head")
            conn.commit()
    finally:
        engine.dispose()
