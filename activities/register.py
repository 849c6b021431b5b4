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

Erasure (`Register.erase`): at the end of retention a closed case's personal data is
replaced by "[erased]" in every table while its figures stay; the event chain still verifies.

The methods are synchronous: the worker runs them in a thread pool.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
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
from enforcement.case.models import (
    DeadlineStatus,
    Notification,
    Party,
    RegisterBatch,
    RegisterEntry,
)
from enforcement.privacy.redact import EMAIL, PERSONAL_KEYS

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
    recorded_at: IsoText | None = Field(default=None, description="the row's `at` already")
    recorded_by: str | None = Field(default=None, description="kept in the row's data, so "
                                    "the chain covers it and erasure removes it")


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
    # A change made by a late record: appended as a deadline_changes row under its own key;
    # the reason also stands in the case handler's notification.
    corrected_from: DeadlineStatus | None = None
    reason: str | None = None
    recorded_by: str | None = None


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


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def event_hash(prev_hash: str, key: str, case_id: str, seq: int, type_: str, date: str,
               event_id: str | None, data: Any) -> str:
    """SHA-256 over the previous row's hash and this row's content, canonically encoded:
    the chain of rows written before migration 0004 (see `sealed_event_hash`)."""
    body = json.dumps([prev_hash, key, case_id, seq, type_, date, event_id, data],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def data_digest(salt: str, data: Any) -> str:
    """SHA-256 of a row's random salt and its whole `data`: a commitment that reveals
    nothing of the data once the salt is gone."""
    return hashlib.sha256(_canonical(["data", salt, data])).hexdigest()


def public_digest(public_data: Any) -> str:
    """SHA-256 of the public form of a row's data (`erase_personal(data)`)."""
    return hashlib.sha256(_canonical(["public", public_data])).hexdigest()


def sealed_event_hash(prev_hash: str, key: str, case_id: str, seq: int, type_: str,
                      date: str, event_id: str | None, public: str, digest: str) -> str:
    """SHA-256 over the previous row's hash, this row's key, seq, type, date and event id,
    `public_digest(erase_personal(data))` and `data_digest(salt, data)`: the chain of rows
    written since migration 0004, which survives erasure."""
    return hashlib.sha256(_canonical(["v2", prev_hash, key, case_id, seq, type_, date,
                                      event_id, public, digest])).hexdigest()


def _last_hash(conn: Connection, case_id: str) -> str:
    t = db.events
    row = conn.execute(select(t.c.row_hash).where(t.c.case_id == case_id)
                       .order_by(t.c.seq.desc(), t.c.id.desc()).limit(1)).first()
    return row.row_hash if row is not None else ""


def _write_event(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, EventData)
    fields = d.model_dump(mode="json")["fields"]
    if d.recorded_by is not None:
        fields = {**fields, "recorded_by": d.recorded_by}
    prev = _last_hash(conn, e.case_id)
    salt = secrets.token_hex(16)
    digest, public = data_digest(salt, fields), public_digest(erase_personal(fields))
    conn.execute(db.events.insert().values(
        key=e.key, case_id=e.case_id, seq=d.seq, type=d.type, date=d.date,
        event_id=d.event_id, data=fields, recorded_at=_utc(e.at), prev_hash=prev,
        data_salt=salt, data_digest=digest, public_digest=public,
        row_hash=sealed_event_hash(prev, e.key, e.case_id, d.seq, d.type, d.date, d.event_id,
                                   public, digest),
    ))


def _write_deadline(conn: Connection, e: RegisterEntry, d: _Data) -> None:
    assert isinstance(d, DeadlineData)
    t = db.deadlines
    at = _utc(e.at)
    fields = d.model_dump(mode="json", exclude_unset=True,
                          exclude={"corrected_from", "reason", "recorded_by"})
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
    "erasures": ("id",),
}
assert set(ORDER) == set(db.TABLES)


# --- erasure ----------------------------------------------------------------------------------

ERASED = "[erased]"
ERASED_EMAIL = "[erased-email]"
_MAX_DEPTH = 20


def _holds(value: Any) -> bool:
    """False for the empty values (None, "", [], {}): there is nothing in them to erase."""
    return value is not None and value != "" and value != [] and value != {}


def erase_personal(value: Any, depth: int = 0) -> Any:
    """`value` with its personal data replaced: the rule of `enforcement.privacy.redact`, the one
    definition of what is personal, applied to stored data. The value of every key in
    `PERSONAL_KEYS` (any depth, case-insensitive, whatever its type) becomes "[erased]";
    e-mail addresses in the strings that remain become "[erased-email]"; everything else
    (dates, amounts, periods, names of deadlines and stages) is kept as it is.

    Empty values are kept, so `erase_personal(erase_personal(v)) == erase_personal(v)`:
    erasing again changes nothing.
    """
    if depth > _MAX_DEPTH:
        return ERASED
    if isinstance(value, str):
        return EMAIL.sub(ERASED_EMAIL, value) if "@" in value else value
    if isinstance(value, Mapping):
        return {k: (ERASED if isinstance(k, str) and k.lower() in PERSONAL_KEYS and _holds(v)
                    else erase_personal(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [erase_personal(v, depth + 1) for v in value]
    return value


# Columns that can hold personal data, per table (events are handled by `_erase_events`).
# Text columns hold party text and are replaced whole; their names are personal keys of
# `enforcement.privacy.redact`. JSON columns are containers: `erase_personal` applies to what they
# hold, so the figures inside (due dates, amounts, periods) stay. Deadline explanations are
# sentences the time-limit core writes from dates, periods, calendars and country codes,
# never party text: only e-mail addresses would be masked there. Every other column is a
# key, a date, an amount, a status or an outcome, and is kept.
ERASABLE_TEXT: dict[str, tuple[str, ...]] = {
    "cases": ("controller_name", "subject"),
    "decisions": (),
    "deadlines": (),
    "notifications": ("subject", "detail"),
    "webhook_deliveries": ("detail",),
}
ERASABLE_JSON: dict[str, tuple[str, ...]] = {
    "cases": (),
    "decisions": ("data",),
    "deadlines": ("explanation",),
    "notifications": ("data",),
    "webhook_deliveries": (),
}
assert all(c in PERSONAL_KEYS for cols in ERASABLE_TEXT.values() for c in cols)
ERASURE_TABLES: tuple[str, ...] = ("cases", "events", "deadlines", "decisions",
                                   "notifications", "webhook_deliveries")


class ErasureRefused(Exception):
    """An erasure that was not carried out; nothing was changed.

    `reason`: "unknown" (no such case), "open" (the case is not closed), "tampered" (its
    event chain does not verify: erasing would hide the alteration).
    """

    def __init__(self, reason: Literal["unknown", "open", "tampered"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ErasureReport(BaseModel):
    """What one `Register.erase` call did."""

    case_id: str
    erased_at: datetime = Field(description="when this call ran")
    counts: dict[str, int] = Field(
        description="rows whose personal data this call replaced, per table")
    rehashed: int = Field(0, description="event rows re-chained: written before migration "
                          "0004, or before a key they hold was made personal")
    previously_erased_at: datetime | None = Field(
        None, description="the latest earlier erasure of the case, if any")
    residue: str = Field("", description="where superseded copies may remain outside the "
                         "register's rows, if anywhere")

    @property
    def erased(self) -> int:
        """Rows changed by this call; 0 when the case had nothing left to erase."""
        return sum(self.counts.values())


def _expected_hash(r: Any, prev_hash: str, erased_case: bool) -> str | None:
    """The hash an event row must carry after a row hashed `prev_hash`, from its content;
    None when its content is inconsistent whatever its hash (see `Register.erase`). The
    check does not depend on what `enforcement.privacy.redact` calls personal today: a live row is
    checked against its salted digest, an erased one against its public digest."""
    if r.data_digest is None or r.public_digest is None:  # chained before migration 0004
        if r.data_salt is not None or r.data_digest is not None or r.public_digest is not None:
            return None
        return event_hash(prev_hash, r.key, r.case_id, r.seq, r.type, r.date, r.event_id,
                          r.data)
    if r.data_salt is not None:  # live: the data must still give its digest
        if data_digest(r.data_salt, r.data) != r.data_digest:
            return None
    elif not erased_case or public_digest(r.data) != r.public_digest:
        return None  # erased: only in a case whose erasure is recorded, as it was erased
    return sealed_event_hash(prev_hash, r.key, r.case_id, r.seq, r.type, r.date, r.event_id,
                             r.public_digest, r.data_digest)


def _erase_events(conn: Connection, case_id: str, erased_before: bool) -> tuple[int, int]:
    """Verify the case's chain, then erase its rows: (rows erased, rows re-chained). A
    row's hash changes only when its public form is not the one committed when it was
    written: a row chained before migration 0004, or a key made personal since."""
    t = db.events
    rows = conn.execute(select(t).where(t.c.case_id == case_id)
                        .order_by(t.c.seq, t.c.id)).all()
    old_prev = new_prev = ""
    erased = rehashed = 0
    for r in rows:
        if (r.prev_hash != old_prev
                or _expected_hash(r, r.prev_hash, erased_before) != r.row_hash):
            raise ErasureRefused(
                "tampered", f"case {case_id!r} not erased: its event row {r.key} (seq "
                f"{r.seq}) was altered, or a row before it was removed or inserted; erasing "
                f"would hide the alteration: restore the row, then erase "
                f"(`enforce register verify` reports the first altered row)")
        data = erase_personal(r.data)
        public = public_digest(data)
        digest = r.data_digest
        if digest is None:  # a commitment nobody can open: the salt is never kept
            digest = data_digest(secrets.token_hex(16), r.data)
        new_hash = sealed_event_hash(new_prev, r.key, r.case_id, r.seq, r.type, r.date,
                                     r.event_id, public, digest)
        values: dict[str, Any] = {}
        if data != r.data:
            values["data"] = data
        if r.data_salt is not None:
            values["data_salt"] = None
        if digest != r.data_digest:
            values["data_digest"] = digest
        if public != r.public_digest:
            values["public_digest"] = public
        if new_prev != r.prev_hash:
            values["prev_hash"] = new_prev
        if new_hash != r.row_hash:
            values["row_hash"] = new_hash
        if values:
            conn.execute(t.update().where(t.c.id == r.id).values(**values))
        erased += bool(values.keys() & {"data", "data_salt", "data_digest", "public_digest"})
        rehashed += "row_hash" in values
        old_prev, new_prev = r.row_hash, new_hash
    return erased, rehashed


def _closing_reasons(conn: Connection, case_id: str) -> set[Any]:
    """The free-text reasons of the case's `case_closed` events. The case machine records
    such a reason as the case's outcome ("closed" when none is given), so that outcome is
    party text, not a figure, and is erased with the reason."""
    t = db.events
    rows = conn.execute(select(t.c.data).where(t.c.case_id == case_id,
                                               t.c.type == "case_closed"))
    return {d.get("reason") for (d,) in rows if isinstance(d, dict) and _holds(d.get("reason"))}


def _erase_table(conn: Connection, name: str, case_id: str,
                 copied: Mapping[str, set[Any]] | None = None) -> int:
    """Replace the personal data of one table's rows of a case: the rows changed. `copied`:
    per column, values that were copied from personal data and are erased too."""
    t = db.TABLES[name]
    texts, jsons = ERASABLE_TEXT[name], ERASABLE_JSON[name]
    key = list(t.primary_key.columns)
    changed = 0
    rows = conn.execute(select(t).where(t.c.case_id == case_id)
                        .order_by(*(t.c[c] for c in ORDER[name]))).all()
    for r in rows:
        m = r._mapping
        values: dict[str, Any] = {c: ERASED for c in texts if _holds(m[c]) and m[c] != ERASED}
        for c, personal in (copied or {}).items():
            if m[c] in personal and m[c] != ERASED:
                values[c] = ERASED
        for c in jsons:
            erased = erase_personal(m[c])
            if erased != m[c]:
                values[c] = erased
        if values:
            conn.execute(t.update().where(*(col == m[col.name] for col in key))
                         .values(**values))
            changed += 1
    return changed


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

    def erase(self, case_id: str) -> ErasureReport:
        """Erase a closed case's personal data at the end of its retention, in one
        transaction; what was erased, per table. Refuses (`ErasureRefused`, nothing changed)
        an unknown case, a case still open in the register, and a case whose event chain
        does not verify.

        What goes: the personal data as `enforcement.privacy.redact` defines it. The controller's
        name and the case subject (cases), and its outcome when that is the free-text
        reason of a `case_closed` event; every personal key inside the JSON data of
        events, decisions and notifications (complainant reference, subjects, measures,
        reasons, references, the controller's name in a message's payload) and any e-mail
        address left in their strings ("[erased-email]"); a notification's subject and
        delivery detail (which names the address it was sent to); a webhook delivery's
        detail (the receiver's answer). Each becomes "[erased]". What stays: every key,
        sequence number, date, time, amount, period, stage, status, outcome, event type,
        deadline (with its due date and explanation, which the time-limit core writes from
        dates and rules only) and the case's country. The erasure itself is recorded in
        `erasures` (case, time, rows per table). Erasing again erases only what was written
        since, if anything, and records nothing when there was nothing.

        Tamper evidence survives the erasure by design. Since migration 0004 an event row
        is hashed, with the previous row's hash, its key, case, seq, type, date and event id,
        over two digests kept in the row: `public_digest`, SHA-256 of its public form
        (`erase_personal(data)`: what erasure will leave), and `data_digest`, SHA-256 of a
        random salt and the full data (also kept in the row). The personal values enter the
        chain only through the salted digest. Erasing a row replaces its data by the public
        form and drops the salt; both digests stay, so its hash, and every later row's, is
        unchanged (a chain head noted before the erasure still checks after it). `verify`
        checks a live row's data against its salted digest and an erased row's data against
        its public digest, so an edit of an erased row's type, date, seq or of a figure
        inside its data (a period, an amount) breaks the chain as before; an erased row is
        only accepted in a case whose erasure is recorded. Why a salted digest and not a
        plain hash of the personal values: a reference like "P-001" can be recovered from
        its plain hash by trying candidates, so that hash would itself be personal data;
        without its salt the digest is a commitment nobody can open. The alternative, marking
        erased rows and trusting their stored hash, would let anyone edit an erased row by
        recomputing one local value; here an edit must rewrite the rest of the case's chain.
        And `verify` never applies today's `PERSONAL_KEYS` to old rows: adding a key there
        does not make the register look altered.

        The chain is verified before anything is erased: erasure must not launder an
        altered row. When the public form computed now differs from the committed one (a row
        chained before 0004, hashed over its full data; or a key made personal since the row
        was written), the case is re-chained from that row on, from its verified state
        (`rehashed` in the report and the erasure record); a row chained before 0004 gets
        the digest of a salt that is never kept.

        Physical copies: SQLite overwrites the freed bytes (`secure_delete`) and checkpoints
        its write-ahead log into the file; PostgreSQL keeps superseded row versions until
        VACUUM reclaims them and its WAL until recycled. Backups keep everything until they
        expire. The report's `residue` says which applies.
        """
        now = datetime.now(UTC)
        counts = dict.fromkeys(ERASURE_TABLES, 0)
        rehashed = 0
        with self.engine.connect() as conn:
            conn.execution_options(**{db.WRITE: True})
            sqlite_db = conn.dialect.name == "sqlite"
            raw: Any = conn.connection.dbapi_connection if sqlite_db else None
            secure = raw.execute("PRAGMA secure_delete").fetchone()[0] if sqlite_db else 0
            try:
                if sqlite_db:
                    raw.execute("PRAGMA secure_delete = 1")
                with conn.begin():
                    cases = db.cases
                    case_row = conn.execute(select(cases.c.status, cases.c.stage)
                                            .where(cases.c.case_id == case_id)
                                            .with_for_update()).first()
                    if case_row is None:
                        raise ErasureRefused("unknown", f"no case {case_id!r} in the register; "
                                             f"give the id of a recorded, closed case")
                    if case_row.status != "closed":
                        raise ErasureRefused(
                            "open", f"case {case_id!r} not erased: it is still {case_row.status} "
                            f"in the register (stage {case_row.stage}); only a closed case "
                            f"can be erased, at the end of its retention period")
                    e = db.erasures
                    previous = conn.execute(select(func.max(e.c.erased_at))
                                            .where(e.c.case_id == case_id)).scalar()
                    copied = {"outcome": _closing_reasons(conn, case_id)}
                    counts["events"], rehashed = _erase_events(conn, case_id,
                                                               previous is not None)
                    for name in ERASURE_TABLES:
                        if name != "events":
                            counts[name] = _erase_table(conn, name, case_id,
                                                        copied if name == "cases" else None)
                    if any(counts.values()) or rehashed:
                        conn.execute(e.insert().values(case_id=case_id, erased_at=now,
                                                       counts=counts, rehashed=rehashed))
            finally:
                if sqlite_db:
                    raw.execute(f"PRAGMA secure_delete = {int(secure)}")
            residue = self._residue(raw)
        report = ErasureReport(
            case_id=case_id, erased_at=now, counts=counts, rehashed=rehashed,
            previously_erased_at=None if previous is None else _utc(previous), residue=residue)
        log.info("register.erased", case_id=case_id, rows=counts, rehashed=rehashed,
                 erased=report.erased)
        return report

    def _residue(self, raw: Any) -> str:
        """After an erasure: checkpoint SQLite's log into the file; where old copies stay."""
        if raw is None:
            return ("PostgreSQL keeps the replaced row versions in its table files until "
                    "VACUUM reclaims them, and in its WAL until it is recycled; backups keep "
                    "them until they expire")
        busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            return ("SQLite could not checkpoint its write-ahead log now (another connection "
                    "is reading): old page copies stay in the -wal file until the next "
                    "checkpoint; backups keep them until they expire")
        return "backups made before the erasure keep the data until they expire"

    def verify(self) -> tuple[int, dict[str, Any] | None]:
        """Recompute every case's event chain: (rows checked, the first altered row or None).
        A row is altered when its content no longer gives its hash, or when its `prev_hash`
        is not the hash of the case's previous row (a row removed or inserted). A lawfully
        erased row verifies from its public form and kept digests; an erased row of a case
        with no recorded erasure, or whose data is not the public form it was erased to, is
        altered (see `erase` for the design)."""
        t = db.events
        checked, last = 0, dict[str, str]()
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.case_id, t.c.seq, t.c.id))
            # read after the rows: an erasure committed before them is seen here
            erased = set(conn.execute(select(db.erasures.c.case_id).distinct()).scalars())
            for r in rows:
                expected_prev = last.get(r.case_id, "")
                digest = _expected_hash(r, r.prev_hash, r.case_id in erased)
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

    def controller_names(self, case_ids: list[str]) -> dict[str, str]:
        """The controller's name of each case the register knows (the console's listing:
        the search attributes hold only a keyed hash of it)."""
        t = db.cases
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(case_ids), 500):
                rows = conn.execute(select(t.c.case_id, t.c.controller_name).where(
                    t.c.case_id.in_(case_ids[i:i + 500]))).all()
                out.update({r.case_id: r.controller_name for r in rows if r.controller_name})
        return out

    def deliveries(self, case_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A case's notifications (party, subject, channel, status, detail, at) and its
        webhook outcomes (key, receiver, status, detail, at), each oldest first."""
        n, w = db.notifications, db.webhook_deliveries
        with self.engine.connect() as conn:
            notes = conn.execute(select(n.c.key, n.c.party, n.c.template, n.c.subject,
                                        n.c.channel, n.c.status, n.c.detail, n.c.at)
                                 .where(n.c.case_id == case_id).order_by(n.c.id)).all()
            hooks = conn.execute(select(w.c.key, w.c.receiver, w.c.status, w.c.detail, w.c.at)
                                 .where(w.c.case_id == case_id).order_by(w.c.id)).all()
        return [dict(r._mapping) for r in notes], [dict(r._mapping) for r in hooks]

    def webhook_outcomes(self, case_id: str, keys: list[str]) -> set[tuple[str, str]]:
        """The (key, receiver) pairs among `keys` whose outcome is recorded."""
        t = db.webhook_deliveries
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.key, t.c.receiver).where(
                t.c.case_id == case_id, t.c.key.in_(keys))).all()
        return {(r.key, r.receiver) for r in rows}

    def stage_counts(self) -> dict[tuple[str, str], int]:
        """Cases by (stage, status)."""
        t = db.cases
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.stage, t.c.status, func.count())
                                .group_by(t.c.stage, t.c.status)).all()
        return {(stage or "new", status): int(n) for stage, status, n in rows}

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
