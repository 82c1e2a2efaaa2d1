""" "Send existing invoices": historical invoices go to QuickBooks through Intuit's batch endpoint.

QBO-REFERENCE §2.6: at most 30 items per batch, 40 batch requests a minute per realm, and items in one batch
cannot see each other, so customers go first (their own batches), invoices after. §2.8: a batch carries one
`requestid` (≤ 36 characters, each `bId` ≤ 10): the run stores the batch it claimed and its requestid before
sending, so a batch whose answer was lost, or whose worker was killed, is sent again with the same requestid and
QuickBooks replays it instead of writing twice. The run's cursor moves only when the batch's outcomes (links,
sync log rows, counters) are saved, in one transaction: no duplicates, no gaps.

Per-item Faults are handled like single pushes: 6140 (duplicate DocNumber) follows the connection's adoption
policy, 6240 (duplicate name) links the existing customer, 610 and other refusals fail that invoice only (a
person retries it from the activity page), 429/5010/5xx inside a batch defer that item to a later batch.
Every created invoice is checked against QuickBooks' answer (books agree), drift recorded like single pushes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.http import Http404
from django.utils import timezone

from attune_qbo.billing.models import Client, Invoice, InvoiceStatus
from attune_qbo.core.exceptions import Conflict
from integrations.exceptions import (
    DuplicateDocNumber,
    NotConnected,
    QuickBooksError,
    ReconnectRequired,
    StaleObject,
    Throttled,
    Unauthorized,
    Unavailable,
)
from integrations.models import (
    AdoptionPolicy,
    BackfillPhase,
    BackfillStatus,
    ConnectionStatus,
    LinkType,
    QuickBooksBackfill,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
    SyncStatus,
    SyncTrigger,
)
from integrations.quickbooks import errors
from integrations.quickbooks.client import BATCH_MAX_ITEMS, QuickBooksClient, select_statement
from integrations.quickbooks.errors import CODE_DUPLICATE_NAME, DEFAULT_THROTTLE_WAIT_SECONDS
from integrations.quickbooks.online.push import customer_payload, invoice_payload
from integrations.quickbooks.online.render import is_ours, payload_hash

logger = logging.getLogger("qbo.backfill")

BID_MAX_LENGTH = 10  # §2.8: with a requestid, each bId is at most 10 characters
MAX_ITEM_TRIES = 3  # an item QuickBooks deferred (429/5010/5xx inside a batch) is sent this many times at most
UNAVAILABLE_WAITS = (2, 5, 15, 30, 60)  # a batch whose answer never came is re-sent (same requestid) after these
RETRYABLE_ITEM_CODES = frozenset({"3001", "5010", "10000"})
KIND_CUSTOMER, KIND_INVOICE = "c", "i"


class BackfillRunning(Conflict):
    code = "backfill_running"


class BackfillStopped(Exception):
    """The run cannot go on now (QuickBooks unreachable, reconnect needed); it stays resumable."""


def _lease_seconds() -> float:
    return float(settings.QUICKBOOKS_BACKFILL_LEASE_SECONDS)


# --- what is sent -----------------------------------------------------------------------------------------


def _live_entries(connection: QuickBooksConnection):
    return QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        entity_type="invoice",
        object_id=OuterRef("pk"),
        status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
    )


def _links(connection: QuickBooksConnection, object_type: str):
    return QuickBooksLink.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_id,
        object_type=object_type,
        object_id=OuterRef("pk"),
    )


def backfill_candidates(*, connection: QuickBooksConnection, since: dt.date | None = None, up_to: int | None = None):
    """Finalized or paid invoices this realm has never received and the outbox is not sending right now."""
    invoices = (
        Invoice.objects.filter(
            company_id=connection.company_id, status__in=[InvoiceStatus.FINALIZED, InvoiceStatus.PAID]
        )
        .exclude(Exists(_links(connection, LinkType.INVOICE)))
        .exclude(Exists(_live_entries(connection)))
    )
    if since is not None:
        invoices = invoices.filter(issue_date__gte=since)
    if up_to is not None:
        invoices = invoices.filter(pk__lte=up_to)
    return invoices


def _clients_needed(connection: QuickBooksConnection, run: QuickBooksBackfill):
    invoices = backfill_candidates(connection=connection, since=run.since, up_to=run.last_invoice_id)
    return Client.objects.filter(company_id=connection.company_id, pk__in=invoices.values("client_id")).exclude(
        Exists(_links(connection, LinkType.CLIENT))
    )


# --- starting, resuming, reading -------------------------------------------------------------------------


def _connection(company) -> QuickBooksConnection:
    connection = QuickBooksConnection.objects.filter(company=company).first()
    if connection is None or not connection.realm_id or connection.status == ConnectionStatus.DISCONNECTED:
        raise NotConnected("QuickBooks is not connected for this company; connect it before sending invoices.")
    if connection.status != ConnectionStatus.CONNECTED:
        raise ReconnectRequired("QuickBooks needs to be reconnected before existing invoices can be sent.")
    return connection


def _running_message(run: QuickBooksBackfill) -> str:
    return (
        f"Existing invoices are already being sent to QuickBooks for this company ({run.processed} of {run.total} "
        "done). Wait for that run to finish; its progress is on the QuickBooks settings page."
    )


def backfill_start(*, company, user=None, since: dt.date | None = None, dispatch: bool = True) -> QuickBooksBackfill:
    """Start sending this company's existing invoices (or resume its stopped run for the same realm).

    Refused with `BackfillRunning` (409) while a run is queued or running. `dispatch=False` leaves the work to
    the caller (the management command runs it in its own process).
    """
    connection = _connection(company)
    live = QuickBooksBackfill.objects.filter(
        company=company, status__in=[BackfillStatus.QUEUED, BackfillStatus.RUNNING]
    )
    current = live.first()
    if current is not None:
        raise BackfillRunning(_running_message(current), extra={"backfill_id": current.pk})
    stopped = (
        QuickBooksBackfill.objects.filter(company=company, realm_id=connection.realm_id, status=BackfillStatus.STOPPED)
        .order_by("-id")
        .first()
    )
    try:
        with transaction.atomic():
            if stopped is not None and (since is None or since == stopped.since):
                # Resume: the same cursor and claimed batch, so nothing is sent twice and nothing is skipped.
                QuickBooksBackfill.objects.filter(pk=stopped.pk).update(
                    status=BackfillStatus.QUEUED,
                    message="Resuming where the last run stopped.",
                    worker="",
                    lease_until=None,
                    updated_at=timezone.now(),
                )
                run = QuickBooksBackfill.objects.get(pk=stopped.pk)
            else:
                if stopped is not None:  # a new date range: the stopped run is closed, its results stay
                    QuickBooksBackfill.objects.filter(pk=stopped.pk).update(
                        status=BackfillStatus.DONE, finished_at=timezone.now(), message="Replaced by a newer run."
                    )
                candidates = backfill_candidates(connection=connection, since=since)
                last = candidates.order_by("-pk").values_list("pk", flat=True).first() or 0
                run = QuickBooksBackfill.objects.create(
                    company=company,
                    realm_id=connection.realm_id,
                    since=since,
                    requested_by=user if getattr(user, "is_authenticated", False) else None,
                    last_invoice_id=last,
                    total=candidates.count(),
                    message="Queued.",
                )
                run.customers_total = _clients_needed(connection, run).count()
                run.save(update_fields=["customers_total"])
    except IntegrityError:  # another request started one a moment ago (the one-live-run constraint)
        current = live.first()
        raise BackfillRunning(
            _running_message(current) if current else "A backfill was just started for this company."
        ) from None
    logger.info("qbo.backfill.started run=%s company=%s total=%s", run.pk, company.pk, run.total)
    if dispatch:
        transaction.on_commit(lambda: dispatch_run(run.pk))
    return run


def dispatch_run(run_id: int) -> None:
    """Queue the django-q2 task that sends the run's batches."""
    from django_q.tasks import async_task

    try:
        async_task(
            "integrations.services.backfill.backfill_run",
            run_id,
            task_name=f"qbo-backfill-{run_id}-{uuid.uuid4().hex[:6]}",
            group="quickbooks-backfill",
        )
    except Exception as exc:  # noqa: BLE001  the broker is down: the sweeper dispatches the queued run later
        logger.warning("qbo.backfill.dispatch_failed run=%s error=%s", run_id, type(exc).__name__)


def backfill_latest(*, company) -> QuickBooksBackfill | None:
    return QuickBooksBackfill.objects.filter(company=company).order_by("-id").first()


def backfill_get(*, company, pk: int) -> QuickBooksBackfill:
    """One run of this company; another company's run is not found."""
    run = QuickBooksBackfill.objects.filter(company=company, pk=pk).first()
    if run is None:
        raise Http404("No such backfill for this company.")
    return run


def backfill_sweep() -> int:
    """Every minute: runs whose worker died (lease expired) or whose task was lost are queued again."""
    now = timezone.now()
    stale = QuickBooksBackfill.objects.filter(status=BackfillStatus.RUNNING, lease_until__lt=now)
    lost = QuickBooksBackfill.objects.filter(
        status=BackfillStatus.QUEUED, updated_at__lt=now - dt.timedelta(seconds=_lease_seconds())
    )
    ids = list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True))
    for run_id in ids:
        dispatch_run(run_id)
    if ids:
        logger.info("qbo.backfill.sweep requeued=%s", len(ids))
    return len(ids)


# --- running ------------------------------------------------------------------------------------------------


def _worker_name() -> str:
    return f"{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"


def _claim(run_id: int, worker: str) -> QuickBooksBackfill | None:
    """Take the run for this worker: queued, or running under a lease that ran out (its worker died)."""
    now = timezone.now()
    with transaction.atomic():
        run = QuickBooksBackfill.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_live:
            return None
        if run.status == BackfillStatus.RUNNING and run.lease_until and run.lease_until > now:
            return None  # another worker holds it
        resumed = run.status == BackfillStatus.RUNNING
        run.status = BackfillStatus.RUNNING
        run.worker = worker
        run.lease_until = now + dt.timedelta(seconds=_lease_seconds())
        run.started_at = run.started_at or now
        run.message = "Resumed after the last worker stopped." if resumed else "Sending."
        run.save(update_fields=["status", "worker", "lease_until", "started_at", "message", "updated_at"])
    return run


def _renew(run: QuickBooksBackfill) -> None:
    until = timezone.now() + dt.timedelta(seconds=_lease_seconds())
    if not QuickBooksBackfill.objects.filter(pk=run.pk, worker=run.worker, status=BackfillStatus.RUNNING).update(
        lease_until=until
    ):
        raise BackfillStopped("lease lost")
    run.lease_until = until


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def bid_for(kind: str, object_id: int) -> str:
    """The item's bId, derived from our record (≤ 10 characters, §2.8)."""
    bid = kind + _base36(object_id)
    if len(bid) > BID_MAX_LENGTH:
        raise ValueError(f"id {object_id} is too large for a batch bId")
    return bid


@dataclass
class Outcome:
    """What happened to one item of a batch."""

    kind: str
    object_id: int
    status: str  # succeeded | drift | failed | deferred
    message: str = ""
    qbo_id: str = ""
    label: str = ""  # the invoice number, for the sync log
    error_code: str = ""
    drift: dict | None = None
    payload: dict | None = None
    link: tuple | None = None  # (object_type, qbo object, fingerprint, source_updated_at)


@dataclass
class PreparedItem:
    kind: str
    object_id: int
    bid: str
    body: dict  # the BatchItemRequest
    context: dict = field(default_factory=dict)


def backfill_run(run_id: int, *, progress: Callable[[QuickBooksBackfill], None] | None = None) -> str:
    """The django-q2 task: send the run's batches until none is left. Safe to run twice (one worker wins)."""
    from integrations.services.api import client_for

    worker = _worker_name()
    run = _claim(run_id, worker)
    if run is None:
        return "nothing to do"
    connection = QuickBooksConnection.objects.filter(company_id=run.company_id).first()
    try:
        if connection is None or connection.realm_id != run.realm_id:
            _stop(run, "QuickBooks is connected to another company now; this run was meant for the previous one.")
            return "stopped"
        client = client_for(connection)  # its limiter paces every batch at 40 a minute per realm (decision 0013)
        while True:
            _renew(run)
            if progress is not None:
                progress(run)
            items = _current_batch(run, connection)
            if items is None:
                _finish(run)
                if progress is not None:
                    progress(run)
                return "done"
            if not items:
                continue  # every claimed item was refused before any call (recorded); claim the next ones
            answer = _send(run, client, items)
            _record(run, connection, client, items, answer)
    except BackfillStopped as stop:
        logger.warning("qbo.backfill.stopped run=%s reason=%s", run.pk, stop)
        return "stopped"
    except (ReconnectRequired, NotConnected, Unauthorized) as exc:
        _stop(run, f"Stopped: QuickBooks needs to be reconnected ({exc}). Reconnect, then send again to resume.")
        return "stopped"
    except QuickBooksError as exc:  # the whole batch refused (e.g. malformed): a person must look
        logger.warning("qbo.backfill.refused run=%s code=%s intuit_tid=%s", run.pk, exc.code, exc.intuit_tid)
        _stop(run, f"Stopped: QuickBooks refused a batch ({exc}). Send again to resume once it is fixed.")
        return "stopped"
    except Exception:
        logger.exception("qbo.backfill.crashed run=%s company=%s", run.pk, run.company_id)
        _stop(run, "Stopped by an error on our side (logged). Nothing is lost: send again to resume.")
        return "stopped"


def _stop(run: QuickBooksBackfill, message: str) -> None:
    QuickBooksBackfill.objects.filter(pk=run.pk, worker=run.worker).update(
        status=BackfillStatus.STOPPED, message=message[:500], lease_until=None, updated_at=timezone.now()
    )
    run.status, run.message = BackfillStatus.STOPPED, message[:500]


def _finish(run: QuickBooksBackfill) -> None:
    run.refresh_from_db()
    note = ""
    if run.processed < run.total:
        # The rest were linked meanwhile by the ordinary sync (edited or sent by hand while this ran).
        note = f" {run.total - run.processed} were sent by the ordinary sync meanwhile."
    message = (
        f"Done: {run.succeeded} sent, {run.drift} sent with differences, {run.failed} failed (see the activity "
        f"page).{note}"
    )
    QuickBooksBackfill.objects.filter(pk=run.pk).update(
        status=BackfillStatus.DONE,
        message=message,
        finished_at=timezone.now(),
        lease_until=None,
        total=run.processed,
        updated_at=timezone.now(),
    )
    run.status, run.message, run.total = BackfillStatus.DONE, message, run.processed
    logger.info("qbo.backfill.done run=%s sent=%s failed=%s", run.pk, run.succeeded + run.drift, run.failed)


# --- claiming a batch ------------------------------------------------------------------------------------


def _current_batch(run: QuickBooksBackfill, connection: QuickBooksConnection) -> list[PreparedItem] | None:
    """The claimed batch (re-built for a re-send), or the next one claimed now. None: nothing left.

    A new claim (cursor, batch, requestid) is saved in the same transaction as the outcomes of the items refused
    before any call (pre-flight), so a worker killed in between never records them twice."""
    if run.batch:
        prepared, refused = _prepare(run, connection, [(kind, object_id) for kind, object_id, _ in run.batch])
        if not refused:
            return prepared
    else:
        claimed = _claim_next(run, connection)
        if claimed is None:
            return None
        prepared, refused = _prepare(run, connection, claimed)
        run.batch_request_id = f"bf{run.pk}-{run.batches_sent + 1}-{uuid.uuid4().hex[:8]}"[:36]
    run.batch = [[item.kind, item.object_id, item.bid] for item in prepared]
    _save_outcomes(run, connection, refused, batch_done=False, claim=True)
    return prepared


def _claim_next(run: QuickBooksBackfill, connection: QuickBooksConnection) -> list[tuple[str, int]] | None:
    """Deferred items of the phase first, then the next ids after the cursor; the customers phase, then invoices."""
    while True:
        kind = KIND_CUSTOMER if run.phase == BackfillPhase.CUSTOMERS else KIND_INVOICE
        chosen = [(k, object_id) for k, object_id, _ in run.deferred if k == kind][:BATCH_MAX_ITEMS]
        room = BATCH_MAX_ITEMS - len(chosen)
        if room:
            if kind == KIND_CUSTOMER:
                pool = _clients_needed(connection, run)
            else:
                pool = backfill_candidates(connection=connection, since=run.since, up_to=run.last_invoice_id)
            deferred_ids = {object_id for k, object_id, _ in run.deferred if k == kind}
            ids = pool.filter(pk__gt=run.cursor).exclude(pk__in=deferred_ids).order_by("pk")
            chosen += [(kind, pk) for pk in ids.values_list("pk", flat=True)[:room]]
        if chosen:
            new = [object_id for k, object_id in chosen if (k, object_id) not in {(d[0], d[1]) for d in run.deferred}]
            if new:
                run.cursor = max(new)
            return chosen
        if run.phase == BackfillPhase.CUSTOMERS:
            run.phase, run.cursor = BackfillPhase.INVOICES, 0
            QuickBooksBackfill.objects.filter(pk=run.pk).update(phase=run.phase, cursor=0)
            continue
        return None


def _prepare(run, connection, claimed: list[tuple[str, int]]) -> tuple[list[PreparedItem], list[Outcome]]:
    from integrations.books.preflight import PushRefused, preflight
    from integrations.quickbooks.online.push import company_profile

    profile = company_profile(connection)
    ids = [object_id for _, object_id in claimed]
    if claimed and claimed[0][0] == KIND_CUSTOMER:
        clients = Client.objects.filter(company_id=connection.company_id, pk__in=ids).in_bulk()
        prepared = []
        for _, client_id in claimed:
            our = clients.get(client_id)
            if our is None:
                continue
            payload = customer_payload(our, profile)
            prepared.append(
                PreparedItem(
                    KIND_CUSTOMER,
                    client_id,
                    bid_for(KIND_CUSTOMER, client_id),
                    {"bId": bid_for(KIND_CUSTOMER, client_id), "operation": "create", "Customer": payload},
                    {"client": our, "payload": payload},
                )
            )
        return prepared, []
    invoices = Invoice.objects.select_related("client", "company").filter(company_id=connection.company_id).in_bulk(ids)
    customer_ids = dict(
        QuickBooksLink.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_id,
            object_type=LinkType.CLIENT,
            object_id__in=[invoice.client_id for invoice in invoices.values()],
        ).values_list("object_id", "qbo_id")
    )
    linked = set(
        QuickBooksLink.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_id,
            object_type=LinkType.INVOICE,
            object_id__in=ids,
        ).values_list("object_id", flat=True)
    )  # one query for the batch, not one per invoice
    prepared, refused = [], []
    for _, invoice_id in claimed:
        invoice = invoices.get(invoice_id)
        if invoice is None or invoice.status not in (InvoiceStatus.FINALIZED, InvoiceStatus.PAID):
            continue  # deleted, voided or back to draft meanwhile: nothing to send
        if invoice_id in linked:
            continue  # linked meanwhile (the outbox sent it, or an earlier send of this batch was recorded)
        customer_id = customer_ids.get(invoice.client_id)
        try:
            plan = preflight(invoice, connection=connection, profile=profile)
        except PushRefused as exc:
            refused.append(
                Outcome(
                    KIND_INVOICE,
                    invoice_id,
                    SyncStatus.FAILED,
                    exc.message,
                    label=invoice.number,
                    error_code=exc.qbo_code or exc.code,
                )
            )
            continue
        if customer_id is None:
            reason = (
                f"its client {invoice.client.display_name} could not be made a QuickBooks customer (the run's "
                "message says why)"
            )
            refused.append(
                Outcome(
                    KIND_INVOICE,
                    invoice_id,
                    SyncStatus.FAILED,
                    f"Invoice {invoice.number} was not sent: {reason}. Fix the client, then retry.",
                    label=invoice.number,
                    error_code="customer",
                )
            )
            continue
        payload = invoice_payload(invoice, customer_id=customer_id, lines=plan.lines, profile=profile, tax=plan.tax)
        bid = bid_for(KIND_INVOICE, invoice_id)
        prepared.append(
            PreparedItem(
                KIND_INVOICE,
                invoice_id,
                bid,
                {"bId": bid, "operation": "create", "Invoice": payload},
                {
                    "invoice": invoice,
                    "plan": plan,
                    "payload": payload,
                    "customer_id": customer_id,
                    "profile": profile,
                    "connection": connection,
                },
            )
        )
    return prepared, refused


# --- sending -----------------------------------------------------------------------------------------------


def _send(run: QuickBooksBackfill, client: QuickBooksClient, items: list[PreparedItem]) -> dict[str, dict]:
    """Send the claimed batch with its requestid; a 429 is waited out and a lost answer re-sent (replayed)."""
    unavailable = 0
    while True:
        try:
            answer = client.batch([item.body for item in items], request_id=run.batch_request_id)
        except Throttled as exc:
            wait = exc.retry_after if exc.retry_after is not None else DEFAULT_THROTTLE_WAIT_SECONDS
            logger.info("qbo.backfill.throttled run=%s wait=%s paced=%s", run.pk, wait, getattr(exc, "paced", False))
            if getattr(exc, "paced", False):  # the realm's shared pace: its next batch slot is a while away
                _pause(run, wait, f"Waiting for QuickBooks' rate limit for this company; going on in {int(wait)} s.")
            else:
                _pause(run, wait, f"QuickBooks asked us to slow down (429); going on in {int(wait)} s.")
            continue
        except Unavailable as exc:
            if unavailable >= len(UNAVAILABLE_WAITS):
                _stop(
                    run,
                    f"Stopped: QuickBooks did not answer ({exc.message}). Nothing is lost: send again to resume; "
                    "the last batch is re-sent with its request id, so QuickBooks does not create it twice.",
                )
                raise BackfillStopped("unavailable") from None
            wait = UNAVAILABLE_WAITS[unavailable]
            unavailable += 1
            _pause(run, wait, "QuickBooks did not answer; re-sending the same batch (it is not created twice).")
            continue
        QuickBooksBackfill.objects.filter(pk=run.pk).update(batches_sent=F("batches_sent") + 1)
        run.batches_sent += 1
        return {str(entry.get("bId")): entry for entry in answer if isinstance(entry, dict)}


def _pause(run: QuickBooksBackfill, seconds: float, message: str) -> None:
    """Wait, renewing the run's lease every few seconds so no other worker takes it meanwhile."""
    QuickBooksBackfill.objects.filter(pk=run.pk).update(message=message[:500])
    remaining = max(seconds, 0.5)
    while remaining > 0:
        _renew(run)
        step = min(remaining, 5.0)
        time.sleep(step)
        remaining -= step


# --- recording ---------------------------------------------------------------------------------------------


def _record(run, connection, client: QuickBooksClient, items: list[PreparedItem], answer: dict[str, dict]) -> None:
    outcomes = [_outcome(run, connection, client, item, answer.get(item.bid)) for item in items]
    _save_outcomes(run, connection, outcomes, batch_done=True, intuit_tid=client.last_intuit_tid)


def _item_error(entry: dict | None) -> QuickBooksError | None:
    if entry is None:
        return Unavailable("QuickBooks' answer has no result for this item")
    fault = errors.parse_fault_json(entry)
    return None if fault is None else errors.error_for(status=200, fault=fault)


def _retryable(error: QuickBooksError) -> bool:
    return isinstance(error, Throttled | StaleObject | Unavailable) or error.code in RETRYABLE_ITEM_CODES


def _outcome(run, connection, client, item: PreparedItem, entry: dict | None) -> Outcome:
    error = _item_error(entry)
    if item.kind == KIND_CUSTOMER:
        our, payload = item.context["client"], item.context["payload"]
        if error is None:
            found = entry.get("Customer") or {}
            return Outcome(
                KIND_CUSTOMER, our.pk, SyncStatus.SUCCEEDED, link=(LinkType.CLIENT, found, payload_hash(payload), our)
            )
        if error.code == CODE_DUPLICATE_NAME:
            return _existing_customer(client, our, payload, error)
        if _retryable(error):
            return Outcome(KIND_CUSTOMER, our.pk, "deferred", str(error), error_code=error.code)
        return Outcome(
            KIND_CUSTOMER,
            our.pk,
            SyncStatus.FAILED,
            f"QuickBooks refused customer {our.display_name}: {error.message} (code {error.code or error.status})",
            error_code=error.code,
        )
    invoice, payload = item.context["invoice"], item.context["payload"]
    if error is None:
        return _created(item, entry.get("Invoice") or {}, verb="Created")
    if isinstance(error, DuplicateDocNumber):
        return _duplicate_number(run, connection, client, item, error)
    if _retryable(error):
        return Outcome(KIND_INVOICE, invoice.pk, "deferred", str(error), label=invoice.number, error_code=error.code)
    from integrations.quickbooks.online.runner import _refusal_message

    return Outcome(
        KIND_INVOICE,
        invoice.pk,
        SyncStatus.FAILED,
        _refusal_message(error),
        label=invoice.number,
        error_code=error.code or str(error.status or ""),
        payload=dict(payload),
    )


def _created(item: PreparedItem, answer: dict, *, verb: str) -> Outcome:
    """Linked, and checked: QuickBooks' figures against ours (the books-agree rule), drift recorded."""
    from integrations.quickbooks.online.push import _verified

    ctx = item.context
    invoice = ctx["invoice"]
    result = _verified(
        invoice,
        answer,
        ctx["plan"],
        ctx["profile"],
        ctx["customer_id"],
        verb=verb,
        status=SyncStatus.SUCCEEDED,
        connection=ctx.get("connection"),
    )
    return Outcome(
        KIND_INVOICE,
        invoice.pk,
        result.status,
        result.message,
        qbo_id=result.qbo_id,
        label=invoice.number,
        error_code="drift" if result.status == SyncStatus.DRIFT else "",
        drift=result.drift,
        link=(LinkType.INVOICE, answer, payload_hash(ctx["payload"]), invoice),
    )


def _existing_customer(client: QuickBooksClient, our, payload: dict, error: QuickBooksError) -> Outcome:
    """6240: the name is taken. A customer of that name is linked (an e-mail on both sides must agree); a vendor
    or employee of that name, or a customer with another e-mail, needs a person."""
    found = client.find("Customer", DisplayName=payload["DisplayName"])
    their_email = ((found or {}).get("PrimaryEmailAddr") or {}).get("Address", "")
    if found is not None and (not our.email or not their_email or their_email.lower() == our.email.lower()):
        return Outcome(KIND_CUSTOMER, our.pk, SyncStatus.SUCCEEDED, link=(LinkType.CLIENT, found, "", our))
    return Outcome(
        KIND_CUSTOMER,
        our.pk,
        SyncStatus.FAILED,
        f"QuickBooks already has a customer, vendor or employee named “{our.display_name}” with a different e-mail",
        error_code=error.code or CODE_DUPLICATE_NAME,
    )


def _duplicate_number(run, connection, client: QuickBooksClient, item: PreparedItem, error) -> Outcome:
    """6140, like a single push: ours (a lost answer) → linked; else the adoption policy decides."""
    from integrations.services.adoption import invoice_match_differences, policy_for_invoice

    invoice, payload = item.context["invoice"], item.context["payload"]
    existing = client.find("Invoice", DocNumber=invoice.number)
    if existing is not None and is_ours(existing.get("PrivateNote"), invoice.company_id, invoice.pk):
        return _created(item, existing, verb="Found")
    policy = policy_for_invoice(connection, invoice.pk)
    if policy == AdoptionPolicy.CREATE:
        created = client.create(
            "Invoice",
            payload,
            request_id=f"bf{run.pk}i{invoice.pk}-icd"[:50],
            params={"include": "allowduplicatedocnum"},
        )
        return _created(item, created, verb="Created (duplicate number allowed)")
    if policy == AdoptionPolicy.LINK and existing is not None:
        statement = select_statement("Invoice", DocNumber=invoice.number)
        rows = list(client.query(statement, entity="Invoice", page_size=2))
        if len(rows) == 1 and not invoice_match_differences(invoice, existing, customer_id=item.context["customer_id"]):
            return _created(item, existing, verb="Linked existing")
    return Outcome(
        KIND_INVOICE,
        invoice.pk,
        SyncStatus.FAILED,
        f"QuickBooks already has invoice {invoice.number}, and attune did not create it. Change the invoice number "
        "here, or renumber the one in QuickBooks, then retry.",
        label=invoice.number,
        error_code=error.code or "6140",
        payload=dict(payload),
    )


def _save_outcomes(
    run, connection, outcomes: list[Outcome], *, batch_done: bool, claim: bool = False, intuit_tid: str = ""
) -> None:
    """Links, sync log rows and the run's counters in one transaction; the claimed batch is released with them
    (`batch_done`), or saved with them (`claim`: the new batch, its requestid, the cursor and phase)."""
    from integrations.books.preflight import PushRefused
    from integrations.quickbooks.online.push import _save_link

    now = timezone.now()
    deferred = [
        d for d in run.deferred if not batch_done or (d[0], d[1]) not in {(o.kind, o.object_id) for o in outcomes}
    ]
    tries = {(d[0], d[1]): d[2] for d in run.deferred}
    counts = {"succeeded": 0, "drift": 0, "failed": 0, "customers_done": 0}
    rows, customer_failures = [], []
    with transaction.atomic():
        for outcome in outcomes:
            if outcome.status == "deferred":
                attempt = tries.get((outcome.kind, outcome.object_id), 0) + 1
                if attempt < MAX_ITEM_TRIES:
                    deferred.append([outcome.kind, outcome.object_id, attempt])
                    continue
                outcome.status = SyncStatus.FAILED
                outcome.message = f"QuickBooks deferred it {attempt} times ({outcome.message}); retry it later."
        to_link = [o for o in outcomes if o.link is not None and o.status not in (SyncStatus.FAILED, "deferred")]
        if not _link_all(connection, to_link):  # one INSERT for the batch; a conflict: one by one, as single pushes
            for outcome in to_link:
                object_type, qbo_object, fingerprint, ours = outcome.link
                try:
                    _save_link(connection, object_type, ours.pk, qbo_object, fingerprint, ours.updated_at)
                except PushRefused as exc:
                    outcome.status, outcome.message, outcome.error_code = SyncStatus.FAILED, exc.message, exc.qbo_code
        for outcome in outcomes:
            if outcome.status == "deferred":
                continue
            if outcome.kind == KIND_CUSTOMER:
                counts["customers_done"] += 1
                if outcome.status == SyncStatus.FAILED:
                    customer_failures.append(outcome.message)
                continue
            counts[outcome.status if outcome.status in counts else "failed"] += 1
            rows.append(_log_row(run, outcome, now, intuit_tid))
        QuickBooksSyncLog.objects.bulk_create(rows)
        changes = {name: F(name) + value for name, value in counts.items() if value}
        changes.update(deferred=deferred, updated_at=now)
        if customer_failures:
            changes["message"] = ("Customer problem: " + customer_failures[-1])[:500]
        if batch_done:
            changes.update(batch=None, batch_request_id="")
        if claim:
            changes.update(batch=run.batch, batch_request_id=run.batch_request_id, phase=run.phase, cursor=run.cursor)
        QuickBooksBackfill.objects.filter(pk=run.pk).update(**changes)
    sent = [
        o.object_id for o in outcomes if o.kind == KIND_INVOICE and o.status in (SyncStatus.SUCCEEDED, SyncStatus.DRIFT)
    ]
    if sent:
        from attune_qbo.billing.models import Payment
        from integrations.services.payments import payments_wake

        QuickBooksConnection.objects.filter(pk=connection.pk).update(last_synced_at=now)
        with_payments = set(  # one query: only an invoice with payments has any waiting for it
            Payment.objects.filter(company_id=run.company_id, invoice_id__in=sent).values_list("invoice_id", flat=True)
        )
        for invoice_id in sent:  # payments waiting for their invoice to reach QuickBooks go now
            if invoice_id in with_payments:
                payments_wake(company_id=run.company_id, invoice_id=invoice_id)
    fresh = QuickBooksBackfill.objects.get(pk=run.pk)
    for name in ("succeeded", "drift", "failed", "customers_done", "deferred", "batch", "batch_request_id", "message"):
        setattr(run, name, getattr(fresh, name))


def _link_all(connection, outcomes: list[Outcome]) -> bool:
    """Link every item of the batch with one INSERT (a savepoint). False if one of them conflicts (linked meanwhile,
    or its QuickBooks object linked to another record): nothing was written, the caller links them one by one."""
    if not outcomes:
        return True
    links = []
    for outcome in outcomes:
        object_type, qbo_object, fingerprint, ours = outcome.link
        links.append(
            QuickBooksLink(
                company_id=connection.company_id,
                realm_id=connection.realm_id,
                object_type=object_type,
                object_id=ours.pk,
                qbo_id=str(qbo_object["Id"]),
                sync_token=str(qbo_object.get("SyncToken", "")),
                payload_hash=fingerprint,
                qbo_snapshot=qbo_object,
                source_updated_at=ours.updated_at,
            )
        )
    try:
        with transaction.atomic():
            QuickBooksLink.objects.bulk_create(links)
    except IntegrityError:
        return False
    return True


def _log_row(run: QuickBooksBackfill, outcome: Outcome, now, intuit_tid: str) -> QuickBooksSyncLog:
    from attune_qbo.audit.redaction import redact

    return QuickBooksSyncLog(
        company_id=run.company_id,
        realm_id=run.realm_id,
        entity_type="invoice",
        object_id=outcome.object_id,
        object_repr=outcome.label[:100],
        status=outcome.status,
        trigger=SyncTrigger.MANUAL,
        triggered_by_id=run.requested_by_id,
        attempts=1,
        started_at=now,
        finished_at=now,
        qbo_id=outcome.qbo_id,
        intuit_tid=intuit_tid[:64],
        error_code=str(outcome.error_code or "")[:32] if outcome.status != SyncStatus.SUCCEEDED else "",
        message=f"{outcome.message} (sent with the existing invoices, batch run {run.pk})"[:2000],
        payload=redact(outcome.payload) if outcome.payload is not None else None,
        drift=outcome.drift,
    )
