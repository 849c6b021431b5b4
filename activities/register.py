"""The outcome register activities: record what the workflows decided, exactly once.

Every entry carries an idempotency key (`case_id:step`). A batch is applied in one
transaction: each key is first claimed in `register_keys` with INSERT .. ON CONFLICT DO
NOTHING, and only the entries whose claim inserted a row are written. A retried activity
therefore records nothing twice, and two attempts racing with the same batch cannot both
win: on PostgreSQL the second waits on the first one's uncommitted key row, then finds it;
on SQLite writers are serialised by BEGIN IMMEDIATE. Keys are claimed in sorted order and
upserted rows written in one order (`_lock_order`) so overlapping batches never deadlock.

Times: `cases.opened_at/closed_at/updated_at`, `events.recorded_at`, `deadlines.updated_at`,
`deadline_changes.at`, `decisions.decided_at` and `notifications.at` are the entry's `at`
(the workflow time of the transition, virtual time in a simulation); only
`register_keys.recorded_at` is the wall clock at which the register wrote the row, and a
notification's `updated_at` once its delivery is marked (`mark_delivery`) is the wall clock
of the delivery.

The methods are synchronous: the worker runs them in a thread pool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Engine, and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import register_db as db
from enforcement.models import DeadlineStatus, Notification, Party, RegisterBatch, RegisterEntry

log = structlog.get_logger(__name__)

MALFORMED = "MalformedRegisterEntry"

# A notification's delivery: "recorded" until a channel takes it; "retrying" while a
# transient failure is retried; then one of FINAL_DELIVERY, never changed afterwards.
DeliveryStatus = Literal["recorded", "retrying", "sent", "failed", "skipped"]
FINAL_DELIVERY: tuple[str, ...] = ("sent", "failed", "skipped")
MAX_BIGINT = 2**63 - 1


# --- what each table accepts in RegisterEntry.data ------------------------------------------

def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v  # datetime is a date


IsoText = Annotated[str, BeforeValidator(_iso)]
Amount = Annotated[int, Field(ge=0, le=MAX_BIGINT)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class CaseData(_Data):
    """Fields of the case row to set; those absent are left as they are."""

    procedure: str | None = None
    controller_name: str | None = None
    controller_country: str | None = None
    subject: str | None = None
    stage: str | None = None
    status: Literal["open", "closed"] = "open"
    outcome: str | None = None


class EventData(_Data):
    seq: int
    type: str = Field(min_length=1)
    date: IsoText
    event_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class DeadlineData(_Data):
    """A DeadlineRecord (`record.model_dump(mode="json")` fits)."""

    seq: int
    name: str = Field(min_length=1)
    status: DeadlineStatus
    trigger_date: IsoText | None = None
    period: str | None = None
    due: IsoText | None = None
    expires_at: IsoText | None = None
    explanation: list[str] | None = None


class DecisionData(_Data):
    """A decision; keys beyond the columns are kept in the row's `data`."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(min_length=1)
    fine_eur: Amount | None = None
    penalty_per_day_eur: Amount | None = None
    amount_eur: Amount | None = None
    injunction_due: IsoText | None = None
    publish: bool | None = None


class NotificationData(_Data):
    party: Party
    template: str = Field(min_length=1)
    subject: str
    channel: str = "register"
    status: str = "recorded"
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


DATA_MODELS: dict[str, type[_Data]] = {
    "cases": CaseData,
    "events": EventData,
    "deadlines": DeadlineData,
    "decisions": DecisionData,
    "notifications": NotificationData,
}
assert set(DATA_MODELS) == set(db.ENTRY_TABLES)


def _malformed(message: str, **details: Any) -> ApplicationError:
    return ApplicationError(message, details or None, type=MALFORMED, non_retryable=True)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _parse(batch: RegisterBatch) -> list[tuple[RegisterEntry, _Data]]:
    """Validate every entry before anything is written; a bad one fails the whole batch."""
    parsed: list[tuple[RegisterEntry, _Data]] = []
    for i, entry in enumerate(batch.entries):
        where = f"register entry {i} (key {entry.key!r}, table {entry.table!r})"
        model = DATA_MODELS.get(entry.table)
        if model is None:
            raise _malformed(f"{where}: unknown table; expected one of "
                             f"{', '.join(db.ENTRY_TABLES)}")
        if not entry.key:
            raise _malformed(f"{where}: empty idempotency key")
        if entry.case_id != batch.case_id:
            raise _malformed(f"{where}: belongs to case {entry.case_id!r}, "
                             f"the batch to {batch.case_id!r}")
        try:
            data = model.model_validate(entry.data)
        except ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
            raise _malformed(f"{where}: malformed data: {errors}") from None
        parsed.append((entry, data))
    return parsed


# --- writing --------------------------------------------------------------------------------

def _dialect_insert(conn: Connection) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the register runs on SQLite or PostgreSQL, not {name}")


def _claim(conn: Connection, entries: Iterable[RegisterEntry], now: datetime) -> set[str]:
    """Insert each key into register_keys unless present; the keys this call inserted."""
    insert = _dialect_insert(conn)
    first: dict[str, RegisterEntry] = {}
    for e in entries:
        first.setdefault(e.key, e)
    claimed: set[str] = set()
    for key in sorted(first):  # one lock order for every batch: no deadlocks
        e = first[key]
        stmt = insert(db.register_keys).values(
            key=key, case_id=e.case_id, table_name=e.table, recorded_at=now,
        ).on_conflict_do_nothing(index_elements=["key"])
        # rowcount is 1 when this transaction inserted the key, 0 when it was there (or a
        # concurrent attempt committed it first); INSERTs need preserve_rowcount to report it.
        if conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount == 1:
            claimed.add(key)
    return claimed


def _write_case(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, CaseData)
    t = db.cases
    at = _utc(e.at)
    fields = d.model_dump(exclude_unset=True)
    closed = fields.get("status") == "closed"
    stmt = _dialect_insert(conn)(t).values(
        case_id=e.case_id, **{"status": "open", **fields},
        opened_at=at, closed_at=at if closed else None, updated_at=at,
    )
    update: dict[str, Any] = {k: stmt.excluded[k] for k in fields}
    update["updated_at"] = stmt.excluded.updated_at
    if "status" in fields:
        # Closing again keeps the first closing time; reopening clears it.
        update["closed_at"] = case(
            (and_(t.c.status == "closed", t.c.closed_at.is_not(None)), t.c.closed_at),
            else_=stmt.excluded.closed_at,
        ) if closed else None
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.case_id], set_=update))


def event_hash(prev_hash: str, key: str, case_id: str, seq: int, type_: str, date: str,
               event_id: str | None, data: Any) -> str:
    """SHA-256 over the previous row's hash and this row's content, canonically encoded."""
    body = json.dumps([prev_hash, key, case_id, seq, type_, date, event_id, data],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _last_hash(conn: Connection, case_id: str) -> str:
    t = db.events
    row = conn.execute(select(t.c.row_hash).where(t.c.case_id == case_id)
                       .order_by(t.c.seq.desc(), t.c.id.desc()).limit(1)).first()
    return row.row_hash if row is not None else ""


def _write_event(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, EventData)
    fields = d.model_dump(mode="json")["fields"]
    prev = _last_hash(conn, e.case_id)
    conn.execute(db.events.insert().values(
        key=e.key, case_id=e.case_id, seq=d.seq, type=d.type, date=d.date,
        event_id=d.event_id, data=fields, recorded_at=_utc(e.at), prev_hash=prev,
        row_hash=event_hash(prev, e.key, e.case_id, d.seq, d.type, d.date, d.event_id, fields),
    ))


def _write_deadline(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, DeadlineData)
    t = db.deadlines
    at = _utc(e.at)
    fields = d.model_dump(mode="json", exclude_unset=True)
    fields.pop("seq")
    stmt = _dialect_insert(conn)(t).values(case_id=e.case_id, seq=d.seq, **fields,
                                           updated_at=at)
    update: dict[str, Any] = {k: stmt.excluded[k] for k in fields}
    update["updated_at"] = stmt.excluded.updated_at
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.case_id, t.c.seq], set_=update))
    conn.execute(db.deadline_changes.insert().values(
        key=e.key, case_id=e.case_id, seq=d.seq, name=d.name, status=d.status,
        due=d.due, at=at,
    ))


def _write_decision(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, DecisionData)
    conn.execute(db.decisions.insert().values(
        key=e.key, case_id=e.case_id, kind=d.kind, fine_eur=d.fine_eur,
        penalty_per_day_eur=d.penalty_per_day_eur, amount_eur=d.amount_eur,
        injunction_due=d.injunction_due, publish=d.publish,
        data=d.model_dump(mode="json", exclude_unset=True), decided_at=_utc(e.at),
    ))


def _write_notification(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, NotificationData)
    at = _utc(e.at)
    conn.execute(db.notifications.insert().values(
        key=e.key, case_id=e.case_id, **d.model_dump(mode="json"), at=at, updated_at=at,
    ))


WRITERS: dict[str, Callable[[Connection, RegisterEntry, _Data], None]] = {
    "cases": _write_case,
    "events": _write_event,
    "deadlines": _write_deadline,
    "decisions": _write_decision,
    "notifications": _write_notification,
}

# Read order of each table's rows for one case.
ORDER: dict[str, tuple[str, ...]] = {
    "register_keys": ("recorded_at", "key"),
    "cases": ("case_id",),
    "events": ("seq", "id"),
    "deadlines": ("seq",),
    "deadline_changes": ("id",),
    "decisions": ("id",),
    "notifications": ("id",),
    "webhook_deliveries": ("id",),
}
assert set(ORDER) == set(db.TABLES)


def _lock_order(item: tuple[RegisterEntry, _Data]) -> tuple[int, int]:
    """Write the upserted rows first, in one order (the case, then deadlines by seq), so two
    batches of one case never wait on each other's rows in opposite orders. The sort is
    stable: entries for the same row keep their batch order; appends keep theirs."""
    entry, data = item
    if entry.table == "cases":
        return (0, 0)
    if isinstance(data, DeadlineData):
        return (1, data.seq)
    return (2, 0)


class Register:
    """The outcome register on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"the register runs on SQLite or PostgreSQL, not "
                             f"{engine.dialect.name}")
        self.engine = engine

    def _apply(self, batch: RegisterBatch) -> int:
        parsed = _parse(batch)
        if not parsed:
            return 0
        now = datetime.now(UTC)
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{db.WRITE: True})
                with conn.begin():
                    todo = _claim(conn, (e for e, _ in parsed), now)
                    applied = 0
                    for entry, data in sorted(parsed, key=_lock_order):
                        if entry.key in todo:
                            todo.discard(entry.key)  # a key repeated in the batch: first wins
                            WRITERS[entry.table](conn, entry, data)
                            applied += 1
        except DataError as exc:
            # The database refused a value (out of range, bad encoding): retrying cannot help.
            raise _malformed(f"register batch for case {batch.case_id!r} refused by the "
                             f"database: {exc.orig}") from exc
        return applied

    @activity.defn(name="register.record")
    def record(self, batch: RegisterBatch) -> int:
        """Write a case's entries in one transaction; the number newly applied.

        Entries whose key was recorded before are skipped, so a retry or a replayed batch
        records nothing twice. Malformed entries fail the batch, non-retryable, with nothing
        written; database errors such as a lost connection or a lock timeout are raised as
        they are and Temporal retries the activity.
        """
        applied = self._apply(batch)
        log.info("register.recorded", case_id=batch.case_id, entries=len(batch.entries),
                 applied=applied)
        return applied

    @activity.defn(name="register.notify")
    def notify(self, n: Notification) -> bool:
        """Record a notification (channel "register", status "recorded") once per key.

        True when this call recorded it, False when its key was already recorded.
        """
        applied = self._apply(RegisterBatch(case_id=n.case_id, entries=[n.entry()])) == 1
        log.info("register.notified", case_id=n.case_id, key=n.key, party=n.party,
                 template=n.template, recorded=applied)
        return applied

    def mark_delivery(self, key: str, status: DeliveryStatus, channel: str,
                      detail: str = "") -> bool:
        """Set a recorded notification's delivery status, channel and detail.

        A notification that reached a final status (sent, failed, skipped) keeps it: marking
        it again changes nothing, so a retried activity cannot record a delivery twice or
        turn a delivered message into a failed one. "retrying" may be set any number of
        times before that. True when the row changed.
        """
        t = db.notifications
        stmt = (t.update()
                .where(t.c.key == key, t.c.status.not_in(FINAL_DELIVERY))
                .values(status=status, channel=channel, detail=detail[:2000],
                        updated_at=datetime.now(UTC)))
        with self.engine.connect() as conn:
            conn.execution_options(**{db.WRITE: True})
            with conn.begin():
                changed = conn.execute(stmt).rowcount == 1
        log.info("register.delivery", key=key, status=status, channel=channel, detail=detail,
                 changed=changed)
        return changed

    def record_webhook(self, case_id: str, key: str, receiver: str, status: str,
                       detail: str = "") -> bool:
        """A webhook event's outcome at one receiver ("delivered" or "refused" with the
        reason), recorded once per (key, receiver): a retried activity adds nothing."""
        t = db.webhook_deliveries
        with self.engine.connect() as conn:
            conn.execution_options(**{db.WRITE: True})
            with conn.begin():
                stmt = _dialect_insert(conn)(t).values(
                    key=key, receiver=receiver, case_id=case_id, status=status,
                    detail=detail[:2000], at=datetime.now(UTC),
                ).on_conflict_do_nothing(index_elements=["key", "receiver"])
                added = conn.execute(stmt.execution_options(preserve_rowcount=True)
                                     ).rowcount == 1
        log.info("register.webhook", key=key, status=status, added=added)
        return added

    def verify(self) -> tuple[int, dict[str, Any] | None]:
        """Recompute every case's event chain: (rows checked, the first altered row or None).
        A row is altered when its content no longer gives its hash, or when its `prev_hash`
        is not the hash of the case's previous row (a row removed or inserted)."""
        t = db.events
        checked, last = 0, dict[str, str]()
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.case_id, t.c.seq, t.c.id))
            for r in rows:
                expected_prev = last.get(r.case_id, "")
                digest = event_hash(r.prev_hash, r.key, r.case_id, r.seq, r.type, r.date,
                                    r.event_id, r.data)
                if r.prev_hash != expected_prev or digest != r.row_hash:
                    return checked, dict(r._mapping)
                last[r.case_id] = r.row_hash
                checked += 1
        return checked, None

    def delivery(self, key: str) -> tuple[str, str, str] | None:
        """(status, channel, detail) of the notification recorded under `key`, if any."""
        t = db.notifications
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.status, t.c.channel, t.c.detail)
                               .where(t.c.key == key)).first()
        return None if row is None else (row.status, row.channel, row.detail)

    # --- reads (tests, CLI, API) ----------------------------------------------------------

    def case_rows(self, case_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows for one case, in recording order, keyed by table name."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for name, t in db.TABLES.items():
                q = select(t).where(t.c.case_id == case_id).order_by(
                    *(t.c[c] for c in ORDER[name]))
                out[name] = [dict(r._mapping) for r in conn.execute(q)]
        return out

    def count(self, table: str, case_id: str | None = None) -> int:
        """Number of rows in a register table, optionally for one case."""
        t = db.TABLES.get(table)
        if t is None:
            raise ValueError(f"no register table {table!r}; tables: {', '.join(db.TABLES)}")
        q = select(func.count()).select_from(t)
        if case_id is not None:
            q = q.where(t.c.case_id == case_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
