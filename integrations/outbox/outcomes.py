"""What happens after each outcome of an outbox entry, for every target: record it (`finish`), try again later
with back-off (`retry_later`) or give up (dead-letter, with advice), or wait for a reconnect without using an
attempt. An entry edited while it ran gets a follower entry with the latest version.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from attune_qbo.audit.redaction import redact
from attune_qbo.core.exceptions import ApplicationError
from integrations.exceptions import QuickBooksError, Unauthorized, Unavailable
from integrations.models import QuickBooksSyncLog, SyncStatus
from integrations.outbox import enqueue
from integrations.quickbooks.errors import DEFAULT_THROTTLE_WAIT_SECONDS

if TYPE_CHECKING:
    from integrations.quickbooks.client import QuickBooksClient

logger = logging.getLogger("qbo.sync")

MAX_THROTTLES = 30  # 429s do not use up attempts, but a realm that throttles forever still ends somewhere
PAYMENT_WAIT_SECONDS = 60  # a payment whose invoice is not in QuickBooks yet looks again this much later


def _max_attempts() -> int:
    return int(settings.QUICKBOOKS_PUSH_MAX_ATTEMPTS)


def _backoff_seconds() -> tuple[float, ...]:
    """Waits between attempts (±10 % jitter), e.g. 60, 300, 1800, 7200, 21600: `QUICKBOOKS_PUSH_BACKOFF_SECONDS`."""
    return tuple(float(seconds) for seconds in settings.QUICKBOOKS_PUSH_BACKOFF_SECONDS)


@dataclass(frozen=True)
class PushResult:
    """A target's answer for one entry that went through (or had nothing to do)."""

    status: str  # succeeded | up_to_date | drift | skipped
    message: str
    qbo_id: str = ""
    payload: dict | None = None
    drift: dict | None = None
    # Whether payments of this invoice may wait for it (recorded here): only then are they looked for.
    payments_may_wait: bool = True


def wait_for_reconnect(entry, client) -> str:
    """Back to pending without using an attempt; it runs again once an admin reconnects (sync_resume)."""
    finish(
        entry,
        SyncStatus.PENDING,
        "Waiting: QuickBooks needs to be reconnected. Nothing is lost.",
        client=client,
        attempts_delta=-1,
        next_attempt_at=timezone.now(),
    )
    return "waiting for reconnect"


def retry_later(entry, exc, client, *, throttled: bool = False) -> str:
    now = timezone.now()
    if throttled and entry.throttled < MAX_THROTTLES:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_THROTTLE_WAIT_SECONDS
        finish(
            entry,
            SyncStatus.PENDING,
            f"QuickBooks asked us to slow down (429); trying again in {int(wait)} s.",
            client=client,
            error_code=exc.code or "429",
            attempts_delta=-1,
            throttled_delta=1,
            next_attempt_at=now + dt.timedelta(seconds=max(wait, 1)),
        )
        return "throttled"
    if isinstance(exc, Unavailable) and exc.answer_lost:
        reason = (
            "QuickBooks did not answer in time after the request was sent, so it may have been applied. The next "
            "attempt sends the same request id: QuickBooks replays it instead of writing twice"
        )
    else:
        reason = str(exc) if isinstance(exc, QuickBooksError | ApplicationError) else f"unexpected {type(exc).__name__}"
    code = getattr(exc, "code", "") or ""
    return retry_or_give_up(entry, reason=reason, code=code, advice=_dead_advice(exc), client=client, now=now)


def retry_or_give_up(
    entry,
    *,
    reason: str,
    code: str,
    advice: str = "",
    again: str = "",
    client: QuickBooksClient | None = None,
    now=None,
    **finish_options,
) -> str:
    """An attempt failed in a way that may pass: pending again after the next back-off step, or dead (the
    dead-letter: a person retries it) once `QUICKBOOKS_PUSH_MAX_ATTEMPTS` are used up. Target-neutral: `again`
    says when the next try comes ("trying again at 14:05" by default; Desktop: "in a later Web Connector run"),
    `finish_options` go to `finish` (e.g. Desktop's `follower_message`, `dispatch_follower=False`)."""
    now = now or timezone.now()
    if entry.attempts >= _max_attempts():
        finish(
            entry,
            SyncStatus.DEAD,
            f"Gave up after {entry.attempts} attempts: {reason}" + (f". {advice}" if advice else ""),
            client=client,
            error_code=code,
            **finish_options,
        )
        logger.error("qbo.sync.dead entry=%s company=%s", entry.pk, entry.company_id)
        return "dead"
    backoff = _backoff_seconds()
    delay = backoff[min(entry.attempts, len(backoff)) - 1] * random.uniform(0.9, 1.1)  # noqa: S311
    retry_at = now + dt.timedelta(seconds=delay)
    again = again or f"trying again at {timezone.localtime(retry_at):%H:%M}"
    finish(
        entry,
        SyncStatus.PENDING,
        f"Attempt {entry.attempts} failed ({reason}); {again}.",
        client=client,
        error_code=code,
        next_attempt_at=retry_at,
        **finish_options,
    )
    return "retrying"


def _dead_advice(exc) -> str:
    if isinstance(exc, Unauthorized):
        return "QuickBooks kept refusing fresh tokens: check the app's keys and the connection, then retry."
    if isinstance(exc, QuickBooksError):
        return "Retry when QuickBooks is reachable again."
    return "This is a fault on our side; the log has the details. Retry once it is fixed."


def _mark(entry, status, message, *, now) -> None:
    entry.status, entry.message, entry.finished_at, entry.lease_until = status, message, now, None
    entry.save()


def finish(
    entry,
    status,
    message,
    *,
    client: QuickBooksClient | None = None,
    qbo_id: str = "",
    error_code="",
    payload=None,
    attempts_delta=0,
    throttled_delta=0,
    next_attempt_at=None,
    drift=None,
    follower_message: str = "Changed while the last push ran; sending the latest version.",
    dispatch_follower: bool = True,
) -> None:
    """Record the outcome. The entry is RUNNING under this worker's lease, so one UPDATE is enough.

    For every target: an entry edited while it ran (`rerun_requested`) gets a follower entry with the latest
    version, due now, with `follower_message`; `dispatch_follower=False` leaves it to a target that pulls its
    work (the Desktop Web Connector) instead of queueing an Online worker task for it."""
    now = timezone.now()
    changes = {
        "status": status,
        "message": message[:2000],
        "error_code": "" if status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE) else str(error_code)[:32],
        "drift": drift,
        "lease_until": None,
        "next_attempt_at": next_attempt_at if status == SyncStatus.PENDING else None,
        "finished_at": None if status == SyncStatus.PENDING else now,
        "updated_at": now,
    }
    if attempts_delta:
        changes["attempts"] = Greatest(F("attempts") + attempts_delta, 0)
    if throttled_delta:
        changes["throttled"] = F("throttled") + throttled_delta
    if qbo_id:
        changes["qbo_id"] = qbo_id
    if client is not None and client.last_intuit_tid:
        changes["intuit_tid"] = client.last_intuit_tid
    if payload is not None:
        changes["payload"] = redact(payload)
    if status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE, SyncStatus.DRIFT):
        changes["create_request_id"] = ""  # QuickBooks holds the invoice (linked): no create is left unresolved
    if _update_owned(entry, changes):  # the usual case: one statement
        entry.status, entry.message = status, changes["message"]
        return
    owned = QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.RUNNING, started_at=entry.started_at)
    with transaction.atomic():  # an edit arrived while this push ran (or the entry is no longer ours)
        rerun = owned.select_for_update().values_list("rerun_requested", flat=True).first()
        if rerun is None:
            # Our lease ran out and the sweeper gave the entry to another worker: its outcome is the one that counts.
            logger.warning("qbo.sync.outcome_dropped entry=%s status=%s", entry.pk, status)
            return
        owned.update(**changes, rerun_requested=False)
        entry.status, entry.message = status, changes["message"]
        if rerun and status != SyncStatus.PENDING:
            # The invoice changed while this push ran: the change goes in a new entry, due now. (A retry that
            # stays pending sends the latest state anyway.)
            follower = QuickBooksSyncLog.objects.create(
                company_id=entry.company_id,
                realm_id=entry.realm_id,
                create_request_id=changes.get("create_request_id", entry.create_request_id),  # an unresolved create
                entity_type=entry.entity_type,
                object_id=entry.object_id,
                object_repr=entry.object_repr,
                next_attempt_at=now,
                message=follower_message,
            )
            if dispatch_follower:
                transaction.on_commit(lambda: enqueue.dispatch(follower.pk))


_owned_updates: dict[tuple, str] = {}


def _update_owned(entry, changes: dict) -> int:
    """`UPDATE … SET changes WHERE` the entry is still this worker's (running, started when it claimed it) and no
    edit asked for a rerun: the same statement as the ORM's `.filter(…).update(**changes)`, with values prepared by
    the same fields, but its SQL is written once per set of columns (a push records an outcome every time; building
    the UPDATE cost more CPU than running it). Expressions (attempts and throttle counts) go through the ORM."""
    if any(hasattr(value, "resolve_expression") for value in changes.values()):
        return QuickBooksSyncLog.objects.filter(
            pk=entry.pk, status=SyncStatus.RUNNING, started_at=entry.started_at, rerun_requested=False
        ).update(**changes)
    meta = QuickBooksSyncLog._meta
    fields = [meta.get_field(name) for name in changes]
    key = (db_connection.vendor, *changes)
    sql = _owned_updates.get(key)
    if sql is None:
        quote = db_connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        sql = _owned_updates[key] = (
            f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote('id')} = %s AND {quote('status')} = %s "  # noqa: S608
            f"AND {quote('started_at')} = %s AND {quote('rerun_requested')} = %s"
        )
    params = [
        field.get_db_prep_save(value, connection=db_connection)
        for field, value in zip(fields, changes.values(), strict=True)
    ]
    started = meta.get_field("started_at").get_db_prep_value(entry.started_at, db_connection)
    params += [entry.pk, SyncStatus.RUNNING, started, False]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
