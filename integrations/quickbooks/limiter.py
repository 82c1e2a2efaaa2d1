"""Pace calls to Intuit's per-realm limits before they are sent, instead of discovering them through 429s.

Intuit allows per realm 500 requests a minute, 10 at once and 40 batch requests a minute (QBO-REFERENCE §3.4).
Every worker and process shares one pace per realm: a row of `QuickBooksRealmPace` in the database (decision
0013). A call *reserves* the next free slot with one `UPDATE … RETURNING` (calls are spaced evenly at
`safety` × the limit, so no window of Intuit's minute ever holds more than the limit), sleeps until its slot
when it is a moment away, and releases its in-flight place after the answer. A slot further away than
`max_wait_seconds` (a 429 blocked the realm, or many workers queue on it) is not waited for in the worker: the
call raises `PacedOut` (a `Throttled`), and the outbox puts the entry back for then, without using an attempt.

If the database cannot be used, each process paces on its own at `fallback_share` of the limits: slower, never
faster.

This module is also the one counter of calls to Intuit per realm and calendar month (Intuit meters reads, §0 #6;
decision 0018): the reservation adds the call's metered units to the realm's `reads`/`writes` in the same
statement (no extra query). A batch counts its items, as Intuit meters them (§2.6): a `Query` item is a read, any
other item a write. When pacing falls back to the local pace, or is off (`NoLimiter`), `count_calls` adds them
with one statement of its own, so every call sent is counted once whichever path sent it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from integrations.exceptions import Throttled

logger = logging.getLogger("qbo.limiter")


@dataclass(frozen=True)
class RateLimits:
    """Intuit's per-realm limits as this deployment paces them (settings `QUICKBOOKS_RATE_*`)."""

    calls_per_window: int = 500
    batches_per_window: int = 40
    concurrent: int = 10
    window_seconds: float = 60.0
    safety: float = 0.98
    max_wait_seconds: float = 5.0
    fallback_share: float = 0.1

    @property
    def call_interval(self) -> float:
        return self.window_seconds / max(self.calls_per_window * self.safety, 1e-9)

    @property
    def batch_interval(self) -> float:
        return self.window_seconds / max(self.batches_per_window * self.safety, 1e-9)

    @property
    def lease_seconds(self) -> float:
        """How long an in-flight place counts without news (a worker that died holding it frees it then)."""
        return 150.0

    def fallback(self) -> RateLimits:
        """The conservative pace of one process on its own: a share of each limit, one call at a time."""
        share = min(max(self.fallback_share, 0.0), 1.0) or 0.1
        return replace(
            self,
            calls_per_window=max(1, int(self.calls_per_window * share)),
            batches_per_window=max(1, int(self.batches_per_window * share)),
            concurrent=1,
        )


class PacedOut(Throttled):
    """The realm's next free slot is further away than a worker should wait: try again at `retry_after`. Not an
    answer from Intuit and not an attempt; nothing was sent."""

    paced = True


@dataclass(frozen=True)
class Reservation:
    """A reserved call: send at `start` (Unix seconds); `from_store` says whether the shared pace gave it."""

    start: float
    from_store: bool = True


@dataclass(frozen=True)
class Refusal:
    """No slot now: the earliest moment one may be free (Unix seconds)."""

    retry_at: float


class StoreUnavailable(Exception):
    """The shared pace cannot be read or written (the caller falls back to the local pace)."""


class LocalStore:
    """The same pace kept in this process's memory: the fallback, and the reference the tests compare with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, float]] = {}

    def reserve(
        self, realm_id: str, *, now: float, limits: RateLimits, batch: bool, reads: int = 0, writes: int = 0
    ) -> Reservation | Refusal:
        with self._lock:
            row = self._rows.setdefault(
                realm_id, {"next_call_at": 0.0, "next_batch_at": 0.0, "blocked_until": 0.0, "in_flight": 0, "busy": 0.0}
            )
            horizon = now + limits.max_wait_seconds
            in_flight = 0 if row["busy"] < now else row["in_flight"]
            call_at = max(row["next_call_at"], now)
            batch_at = max(row["next_batch_at"], now)
            if row["blocked_until"] > now:
                return Refusal(row["blocked_until"])
            if in_flight >= limits.concurrent:
                return Refusal(now + limits.call_interval)
            if call_at > horizon or (batch and batch_at > horizon):
                return Refusal(max(call_at, batch_at if batch else 0.0) - limits.max_wait_seconds)
            row["next_call_at"] = call_at + limits.call_interval
            if batch:
                row["next_batch_at"] = batch_at + limits.batch_interval
            row["in_flight"] = in_flight + 1
            row["busy"] = max(row["busy"], now + limits.lease_seconds)
            return Reservation(max(call_at, batch_at if batch else 0.0), from_store=False)

    def release(self, realm_id: str) -> None:
        with self._lock:
            row = self._rows.get(realm_id)
            if row is not None:
                row["in_flight"] = max(0, row["in_flight"] - 1)

    def block(self, realm_id: str, *, until: float) -> None:
        with self._lock:
            row = self._rows.setdefault(
                realm_id, {"next_call_at": 0.0, "next_batch_at": 0.0, "blocked_until": 0.0, "in_flight": 0, "busy": 0.0}
            )
            row["blocked_until"] = max(row["blocked_until"], until)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


class DatabaseStore:
    """The shared pace: one `QuickBooksRealmPace` row per realm, one statement per reservation.

    `UPDATE … RETURNING` (PostgreSQL; SQLite ≥ 3.35) reserves atomically whatever the number of workers; the
    statements run in autocommit (a savepoint inside a caller's transaction, so a failure never spoils it).
    """

    _RESERVE = """
        UPDATE {table} SET
            next_call_at = (CASE WHEN next_call_at > %s THEN next_call_at ELSE %s END) + %s,
            next_batch_at = CASE WHEN %s = 1
                THEN (CASE WHEN next_batch_at > %s THEN next_batch_at ELSE %s END) + %s ELSE next_batch_at END,
            in_flight = (CASE WHEN busy_until < %s THEN 0 ELSE in_flight END) + 1,
            busy_until = CASE WHEN busy_until > %s THEN busy_until ELSE %s END,
            reads = (CASE WHEN month = %s THEN reads ELSE 0 END) + %s,
            writes = (CASE WHEN month = %s THEN writes ELSE 0 END) + %s,
            month = %s
        WHERE realm_id = %s AND blocked_until <= %s AND next_call_at <= %s
            AND (%s = 0 OR next_batch_at <= %s)
            AND (in_flight < %s OR busy_until < %s)
        RETURNING next_call_at, next_batch_at
    """

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _run(self, sql: str, params: list, *, fetch: bool = False):
        from django.db import DatabaseError, connections, transaction

        connection = connections[self.using]
        try:
            if connection.in_atomic_block:
                with transaction.atomic(using=self.using):
                    return self._execute(connection, sql, params, fetch)
            return self._execute(connection, sql, params, fetch)
        except DatabaseError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    @staticmethod
    def _execute(connection, sql, params, fetch):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if fetch else cursor.rowcount

    @staticmethod
    def _table() -> str:
        from integrations.models import QuickBooksRealmPace

        return QuickBooksRealmPace._meta.db_table

    def reserve(
        self, realm_id: str, *, now: float, limits: RateLimits, batch: bool, reads: int = 0, writes: int = 0
    ) -> Reservation | Refusal:
        from django.db import connections

        if not connections[self.using].features.can_return_columns_from_insert:
            raise StoreUnavailable("this database cannot return rows from an UPDATE")
        month = time.strftime("%Y-%m", time.gmtime(now))
        horizon = now + limits.max_wait_seconds
        flag = 1 if batch else 0
        params = [
            now, now, limits.call_interval,
            flag, now, now, limits.batch_interval,
            now, now + limits.lease_seconds, now + limits.lease_seconds,
            month, reads, month, writes, month,
            realm_id, now, horizon, flag, horizon, limits.concurrent, now,
        ]  # fmt: skip
        row = self._run(self._RESERVE.format(table=self._table()), params, fetch=True)
        if row is not None:
            next_call_at, next_batch_at = row
            start = next_call_at - limits.call_interval
            if batch:
                start = max(start, next_batch_at - limits.batch_interval)
            return Reservation(start)
        return self._refusal(realm_id, now=now, limits=limits, batch=batch)

    def _refusal(self, realm_id: str, *, now: float, limits: RateLimits, batch: bool) -> Refusal:
        from integrations.models import QuickBooksRealmPace

        try:
            state = (
                QuickBooksRealmPace.objects.using(self.using)
                .filter(realm_id=realm_id)
                .values_list("blocked_until", "next_call_at", "next_batch_at", "in_flight", "busy_until")
                .first()
            )
            if state is None:
                QuickBooksRealmPace.objects.using(self.using).bulk_create(
                    [QuickBooksRealmPace(realm_id=realm_id)], ignore_conflicts=True
                )
                return Refusal(now)  # the row exists now: reserve again at once
        except Exception as exc:  # noqa: BLE001  any database trouble: the caller paces locally
            raise StoreUnavailable(type(exc).__name__) from exc
        blocked_until, next_call_at, next_batch_at, in_flight, busy_until = state
        if blocked_until > now:
            return Refusal(blocked_until)
        if in_flight >= limits.concurrent and busy_until >= now:
            return Refusal(now + limits.call_interval)
        slot = max(next_call_at, next_batch_at if batch else 0.0)
        return Refusal(max(now, slot - limits.max_wait_seconds))

    _COUNT = """
        UPDATE {table} SET
            reads = (CASE WHEN month = %s THEN reads ELSE 0 END) + %s,
            writes = (CASE WHEN month = %s THEN writes ELSE 0 END) + %s,
            month = %s
        WHERE realm_id = %s
    """

    def count(self, realm_id: str, *, now: float, reads: int, writes: int) -> None:
        """Add calls sent without a reservation (local pace, or pacing off) to this month's count."""
        from integrations.models import QuickBooksRealmPace

        month = time.strftime("%Y-%m", time.gmtime(now))
        params = [month, reads, month, writes, month, realm_id]
        if not self._run(self._COUNT.format(table=self._table()), params):
            try:
                QuickBooksRealmPace.objects.using(self.using).bulk_create(
                    [QuickBooksRealmPace(realm_id=realm_id)], ignore_conflicts=True
                )
            except Exception as exc:  # noqa: BLE001  any database trouble: the call is not counted (logged)
                raise StoreUnavailable(type(exc).__name__) from exc
            self._run(self._COUNT.format(table=self._table()), params)

    def release(self, realm_id: str) -> None:
        self._run(
            f"UPDATE {self._table()} SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END "  # noqa: S608
            "WHERE realm_id = %s",
            [realm_id],
        )

    def block(self, realm_id: str, *, until: float) -> None:
        self._run(
            f"UPDATE {self._table()} SET blocked_until = CASE WHEN blocked_until > %s THEN blocked_until ELSE %s END, "  # noqa: S608
            "next_call_at = CASE WHEN next_call_at > %s THEN next_call_at ELSE %s END WHERE realm_id = %s",
            [until, until, until, until, realm_id],
        )


_local = LocalStore()  # the fallback pace of this process, shared by its threads


class RealmLimiter:
    """What the client asks before each request: `with limiter.permit(realm_id, batch=…, read=…): send`."""

    paces = True

    @property
    def max_wait(self) -> float:
        """Waits up to this long happen in the worker; longer ones go back to the outbox."""
        return self.limits.max_wait_seconds

    def __init__(
        self,
        limits: RateLimits,
        *,
        store=None,
        fallback: LocalStore | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self.store = store if store is not None else DatabaseStore()
        self.fallback = fallback if fallback is not None else _local
        self.clock = clock
        self.sleep = sleep
        self._warned_at = 0.0

    def permit(
        self, realm_id: str, *, batch: bool = False, read: bool = False, reads: int = 0, writes: int = 0
    ) -> _Permit:
        """Wait for (or refuse with `PacedOut`) a slot to call Intuit for this realm; release it when done.

        The call counts `reads`/`writes` metered units (a batch: its items); without them, one read if `read`,
        else one write."""
        reads, writes = metered_units(read=read, reads=reads, writes=writes)
        deadline = self.clock() + self.limits.max_wait_seconds
        spins = 0
        while True:
            now = self.clock()
            store, limits = self.store, self.limits
            try:
                answer = store.reserve(realm_id, now=now, limits=limits, batch=batch, reads=reads, writes=writes)
            except StoreUnavailable as exc:
                self._warn(exc)
                store, limits = self.fallback, self.limits.fallback()
                answer = store.reserve(realm_id, now=now, limits=limits, batch=batch)
            if isinstance(answer, Reservation):
                if answer.start > now:
                    self.sleep(answer.start - now)
                if not answer.from_store:  # the shared reservation did not count it: count it on its own
                    count_calls(self.store, realm_id, now=now, reads=reads, writes=writes)
                return _Permit(store, realm_id)
            if answer.retry_at > deadline:
                wait = max(answer.retry_at - now, 0.0) + limits.call_interval
                raise PacedOut(
                    f"Waiting for QuickBooks' rate limit for this company (about {wait:.0f} s).",
                    retry_after=wait,
                    code="rate_limit",
                )
            if answer.retry_at <= now and spins < 3:
                spins += 1  # the row was just made, or another worker took the slot: ask again at once
                continue
            self.sleep(max(answer.retry_at - now, 0.0) or min(limits.call_interval, 0.05))

    def throttled(self, realm_id: str, *, seconds: float) -> None:
        """Intuit answered 429: nobody calls this realm for `seconds`."""
        until = self.clock() + seconds
        try:
            self.store.block(realm_id, until=until)
        except StoreUnavailable as exc:
            self._warn(exc)
        self.fallback.block(realm_id, until=until)

    def _warn(self, exc: Exception) -> None:
        now = self.clock()
        if now - self._warned_at > 60:
            self._warned_at = now
            logger.warning("qbo.limiter.store_unavailable error=%s pacing=local", exc)


def metered_units(*, read: bool = False, reads: int = 0, writes: int = 0) -> tuple[int, int]:
    """(reads, writes) one call counts: the given units, else one read or one write."""
    if reads or writes:
        return max(reads, 0), max(writes, 0)
    return (1, 0) if read else (0, 1)


def count_calls(store, realm_id: str, *, now: float, reads: int, writes: int) -> None:
    """Count a call that no shared reservation counted. Best effort: a store that is down loses the count (logged),
    never the call."""
    counter = getattr(store, "count", None)
    if counter is None:
        return
    try:
        counter(realm_id, now=now, reads=reads, writes=writes)
    except StoreUnavailable as exc:
        logger.warning("qbo.limiter.not_counted realm=%s reads=%s writes=%s error=%s", realm_id, reads, writes, exc)


class _Permit:
    __slots__ = ("realm_id", "store")

    def __init__(self, store, realm_id: str) -> None:
        self.store, self.realm_id = store, realm_id

    def __enter__(self) -> _Permit:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.store.release(self.realm_id)
        except StoreUnavailable:
            pass  # the in-flight place frees itself when its lease passes


class NoLimiter:
    """No pacing (`QUICKBOOKS_RATE_LIMITER=false`): a 429 goes straight back to the caller. Calls are still
    counted (one statement each)."""

    paces = False
    max_wait = -1.0  # never waits: every 429 goes back to the caller

    def __init__(self, *, store=None, clock: Callable[[], float] = time.time) -> None:
        self.store = store if store is not None else DatabaseStore()
        self.clock = clock

    def permit(self, realm_id: str, *, batch: bool = False, read: bool = False, reads: int = 0, writes: int = 0):
        reads, writes = metered_units(read=read, reads=reads, writes=writes)
        count_calls(self.store, realm_id, now=self.clock(), reads=reads, writes=writes)
        return _NoPermit()

    def throttled(self, realm_id: str, *, seconds: float) -> None:
        return None


class _NoPermit:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None
