"""The Online target's batch push: up to 30 claimed outbox entries of one realm in one call to Intuit's batch endpoint
(QBO-REFERENCE §2.6), each recorded exactly as a single push would record it. Called by `outbox.batches`.

Only *plain* entries go in a batch (docs/decisions/0020): an invoice create whose customer is already linked and
unchanged (no customer call needed first: items of a batch cannot see each other), or an update of a linked invoice
whose last answer (snapshot and SyncToken) we hold. Each item's body is what the single push would send (pre-flight →
books document → renderer; sparse, or full when something must be cleared). Everything else — payments, voids, an
unlinked or changed customer, an unresolved single create, an up-to-date invoice — and every item QuickBooks refused
inside the batch goes back to the caller, still claimed, for the single push and all its fault handling (6140
adoption, 5010 re-read, 610, 6240): the same attempt, one extra call for those items only.

Replay, not repair (§2.8): a batch carries one `requestid` (`ob` + a digest of its entries and their generations,
≤ 36 characters) and each item's `bId` names the invoice (`i` + base 36 id, as in the backfill). Before the batch is
sent that requestid is written on each create entry as its `create_request_id` ("a create was sent, outcome
unknown"). An answer that never came is asked for again at once, twice, with the same requestid; if it still does
not come the entries go back to pending (an attempt used, like a single push whose answer was lost) and the next
batch turn of the realm gathers the entries holding that requestid first and sends the same batch again: Intuit
replays its stored answer, so no invoice is created twice. A single push that meets such an entry must not send a
plain create (`replay_batch_create` is what it calls instead; until it does, Intuit replays the batch's answer to
its create and the push fails without writing anything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field, replace

from django.db.models import Q
from django.utils import timezone

from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.core.exceptions import ApplicationError
from integrations.books.preflight import PushPlan, PushRefused, preflight
from integrations.exceptions import QuickBooksError, Throttled, Unavailable
from integrations.fields import TokenDecryptionError
from integrations.models import (
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
    SyncOperation,
    SyncStatus,
)
from integrations.outbox.outcomes import finish, retry_later
from integrations.quickbooks import errors
from integrations.quickbooks.client import BATCH_REQUEST_ID_MAX_LENGTH, QuickBooksClient
from integrations.quickbooks.limiter import PacedOut
from integrations.quickbooks.online.push import (
    UPDATE_FIELDS,
    _content_differs,
    _invoice_body,
    _save_link,
    _store_write,
    _verified,
    company_profile,
    customer_payload,
)
from integrations.quickbooks.online.render import clears_something, full_update_body, payload_hash
from integrations.quickbooks.online.runner import record_result

logger = logging.getLogger("qbo.sync")

BATCH_REQUEST_ID_PREFIX = "ob"  # outbox batch; single pushes use "aq", the backfill "bf"
CREATE, UPDATE = "create", "update"
LOST_ANSWER_RESENDS = 2  # a batch whose answer never came is sent again at once (same requestid) this many times


def is_batch_request_id(value: str) -> bool:
    """Whether an entry's `create_request_id` names an outbox batch (a batch create whose answer was lost)."""
    return bool(value) and value.startswith(BATCH_REQUEST_ID_PREFIX)


def batch_request_id(entries: list[QuickBooksSyncLog]) -> str:
    """The batch's requestid: the same entries at the same generations give the same id (≤ 36 characters)."""
    names = ",".join(f"{e.pk}.{e.generation}" for e in sorted(entries, key=lambda e: e.pk))
    rid = BATCH_REQUEST_ID_PREFIX + hashlib.sha256(names.encode()).hexdigest()[:24]
    assert len(rid) <= BATCH_REQUEST_ID_MAX_LENGTH  # noqa: S101
    return rid


def bid_for_invoice(invoice_id: int) -> str:
    """The item's bId names the invoice (`i` + base 36 id, ≤ 10 characters, §2.8), so a replayed answer maps to the
    invoice whichever entry of it sends the batch again. Same form as the backfill's `bid_for("i", id)`."""
    digits, number, text = "0123456789abcdefghijklmnopqrstuvwxyz", invoice_id, ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            break
    bid = "i" + text
    if len(bid) > 10:
        raise ValueError(f"invoice id {invoice_id} is too large for a batch bId")
    return bid


@dataclass
class BatchItem:
    """One plain entry, rendered as the single push would send it."""

    entry: QuickBooksSyncLog
    invoice: Invoice
    plan: PushPlan
    profile: object
    customer_id: str
    payload: dict
    fingerprint: str
    operation: str  # create | update
    bid: str
    body: dict = field(default_factory=dict)  # the BatchItemRequest
    link: QuickBooksLink | None = None
    then_single: bool = False  # a lost batch's create, resolved by its replay; the rest is the single push's


def prepare(
    entries: list[QuickBooksSyncLog], connection: QuickBooksConnection
) -> tuple[list[BatchItem], list[QuickBooksSyncLog]]:
    """Split claimed entries into plain batch items and the others (left for single pushes). Reads the invoices and
    their links in two queries; pre-flight per invoice (its mapping cache is per worker)."""
    profile = company_profile(connection)
    invoice_ids = [e.object_id for e in entries if e.entity_type == "invoice"]
    invoices = {
        i.pk: i
        for i in Invoice.objects.select_related("client", "company").filter(
            pk__in=invoice_ids, company_id=connection.company_id
        )
    }
    client_ids = {i.client_id for i in invoices.values()}
    wanted = Q(object_type=LinkType.INVOICE, object_id__in=list(invoices)) | Q(
        object_type=LinkType.CLIENT, object_id__in=client_ids
    )
    own = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id)
    links = {(link.object_type, link.object_id): link for link in own.filter(wanted)}
    items: list[BatchItem] = []
    single: list[QuickBooksSyncLog] = []
    customer_prints: dict[int, str] = {}
    for entry in entries:
        invoice = invoices.get(entry.object_id)
        # An entry of a batch whose answer was lost: its create must be resolved by that batch's replay before
        # anything else (a single create would send the batch's requestid), so it goes in the batch even when it is
        # not plain (now void, or its customer changed) and is handed to the single push once linked.
        lost = is_batch_request_id(entry.create_request_id)
        plain = (
            entry.entity_type == "invoice"
            and entry.operation != SyncOperation.VOID
            and invoice is not None
            and invoice.status not in (InvoiceStatus.VOID, InvoiceStatus.DRAFT)
        )
        customer_link = links.get((LinkType.CLIENT, invoice.client_id)) if invoice is not None else None
        if customer_link is None or not (plain or lost) or entry.entity_type != "invoice":
            single.append(entry)
            continue
        if invoice.client_id not in customer_prints:
            customer_prints[invoice.client_id] = payload_hash(customer_payload(invoice.client, profile))
        if customer_link.payload_hash != customer_prints[invoice.client_id]:
            plain = False  # the customer changes first (a call the batch cannot order before the invoice)
            if not lost:
                single.append(entry)
                continue
        try:
            plan = preflight(invoice, connection=connection, profile=profile)
        except PushRefused:
            single.append(entry)  # the single push records the refusal with its message
            continue
        customer_id = customer_link.qbo_id
        payload = _invoice_body(plan, customer_id, profile)
        fingerprint = payload_hash(payload)
        link = links.get((LinkType.INVOICE, invoice.pk))
        bid = bid_for_invoice(invoice.pk)
        item = BatchItem(entry, invoice, plan, profile, customer_id, payload, fingerprint, CREATE, bid, link=link)
        item.then_single = not plain
        if link is None:
            if entry.create_request_id and not lost:
                single.append(entry)  # an unresolved single create: the single push replays it by its requestid
                continue
            item.body = {"bId": bid, "operation": CREATE, "Invoice": payload}
        else:
            if (
                not plain
                or lost  # linked meanwhile: the create is resolved, the single push updates (never creates)
                or link.voided
                or not link.qbo_snapshot
                or not link.sync_token
                or link.payload_hash == fingerprint
            ):
                single.append(entry)  # void, no snapshot to update from, or already up to date (no call)
                continue
            current = {**link.qbo_snapshot, "SyncToken": link.sync_token}
            managed, kept = UPDATE_FIELDS["Invoice"]
            if clears_something(payload, current, managed):
                body = {k: v for k, v in full_update_body(payload, current, kept).items() if k != "sparse"}
            else:
                body = {"Id": current["Id"], "SyncToken": current["SyncToken"], **payload, "sparse": True}
            item.operation = UPDATE
            item.body = {"bId": bid, "operation": UPDATE, "Invoice": body}
        items.append(item)
    return items, single


def batch_push(
    entries: list[QuickBooksSyncLog], connection: QuickBooksConnection, *, client: QuickBooksClient | None = None
) -> list[QuickBooksSyncLog]:
    """Push claimed entries of one realm in one batch and record each outcome; returns the entries left for the
    single push (still claimed: the caller runs them one by one)."""
    from integrations.services.api import client_for

    client = client or client_for(connection)
    items, single = prepare(entries, connection)
    if not items:
        return single
    # A regrouped batch (its answer was lost) keeps the requestid it was sent with: Intuit replays that answer.
    lost = {e.create_request_id for e in entries if is_batch_request_id(e.create_request_id)}
    rid = next(iter(lost)) if len(lost) == 1 else batch_request_id([item.entry for item in items])
    fresh = [item.entry for item in items if item.operation == CREATE and item.entry.create_request_id != rid]
    _set_create_request_id(fresh, rid)
    try:
        answer = _send(client, [item.body for item in items], rid)
    except PacedOut as exc:
        _set_create_request_id(fresh, "")  # nothing was sent
        for item in items:
            finish(
                item.entry,
                SyncStatus.PENDING,
                exc.message,
                client=client,
                attempts_delta=-1,
                next_attempt_at=timezone.now() + dt.timedelta(seconds=max(exc.retry_after or 1.0, 0.5)),
            )
        return single
    except Throttled as exc:
        _set_create_request_id(fresh, "")  # a 429 is answered before anything is written
        for item in items:
            retry_later(item.entry, exc, client, throttled=True)
        return single
    except Unavailable as exc:
        # The answer may be lost after Intuit applied the batch: the create entries keep the batch's requestid, and
        # the next batch turn sends the same batch again (replayed). An attempt is used, as for a single push.
        logger.warning("qbo.sync.batch.unavailable realm=%s rid=%s items=%s", connection.realm_id, rid, len(items))
        for item in items:
            retry_later(item.entry, exc, client)
        return single
    except (QuickBooksError, ApplicationError, TokenDecryptionError):
        # Refused as a whole before anything was written (401 after a refresh, 403, a malformed batch), or no token
        # to send it with (reconnect needed, refresh deferred, keys): each entry goes single, where its error is
        # handled as usual (reconnect, retry later, refusal message).
        _set_create_request_id(fresh, "")
        return single + [item.entry for item in items]
    by_bid = {str(entry.get("bId")): entry for entry in answer if isinstance(entry, dict)}
    _record(items, by_bid, connection, client, single)
    logger.info("qbo.sync.batch realm=%s rid=%s items=%s single=%s", connection.realm_id, rid, len(items), len(single))
    return single


def _send(client: QuickBooksClient, items: list[dict], rid: str) -> list[dict]:
    """Send the batch; an answer that never came is asked for again at once with the same requestid (Intuit replays
    it if it applied the batch), up to `LOST_ANSWER_RESENDS` times, while the entries stay claimed."""
    resends = 0
    while True:
        try:
            return client.batch(items, request_id=rid)
        except Unavailable:
            if resends >= LOST_ANSWER_RESENDS:
                raise
            resends += 1
            logger.info("qbo.sync.batch.resend rid=%s try=%s", rid, resends + 1)


class NotInBatch(Exception):
    """The batch stored under a requestid has no result for this invoice: no batch under that requestid created
    it (Intuit applies a requestid once and replays that first answer), so a plain create is safe."""


def replay_batch_create(client: QuickBooksClient, request_id: str, invoice_id: int, payload: dict) -> dict:
    """For the single push, when an entry's `create_request_id` names an outbox batch whose answer was lost: send
    that batch again with this one invoice's item. Intuit replays the stored answer if the batch was applied (this
    invoice's result in it), or applies this one-item batch now; either way nothing is created twice. Returns the
    QuickBooks Invoice; a Fault for the item is raised as the error a single create would raise (HTTP 400);
    `NotInBatch` when the stored answer is another batch's that did not hold this invoice."""
    bid = bid_for_invoice(invoice_id)
    answer = client.batch([{"bId": bid, "operation": CREATE, "Invoice": payload}], request_id=request_id)
    result = next((a for a in answer if isinstance(a, dict) and str(a.get("bId")) == bid), None)
    if result is None:
        raise NotInBatch(f"the batch {request_id} that QuickBooks holds did not create invoice {invoice_id}")
    fault = errors.parse_fault_json(result)
    if fault is not None:
        raise errors.error_for(status=400, fault=fault, intuit_tid=client.last_intuit_tid)
    return result.get("Invoice") or {}


def _set_create_request_id(entries: list[QuickBooksSyncLog], value: str) -> None:
    if entries:
        QuickBooksSyncLog.objects.filter(pk__in=[e.pk for e in entries]).update(create_request_id=value)
        for entry in entries:
            entry.create_request_id = value


def _record(
    items: list[BatchItem],
    by_bid: dict[str, dict],
    connection: QuickBooksConnection,
    client: QuickBooksClient,
    single: list[QuickBooksSyncLog],
) -> None:
    for item in items:
        entry, invoice = item.entry, item.invoice
        answer = by_bid.get(item.bid)
        if answer is None and item.operation == CREATE:
            # No result for this create: the batch QuickBooks applied under this requestid (perhaps an earlier,
            # smaller regrouping of a lost batch) did not hold it, so nothing was created for it. The single push
            # creates it with a requestid of its own, in this same attempt.
            _set_create_request_id([entry], "")
            single.append(entry)
            continue
        if answer is None:
            retry_later(entry, Unavailable("QuickBooks' batch answer has no result for this invoice"), client)
            continue
        fault = errors.parse_fault_json(answer)
        if fault is not None:
            # Refused inside the batch (6140, 5010, 610, 6240, a 429 for the item…): nothing was written for it. The
            # single push handles it with all its fault logic, in this same attempt.
            if item.operation == CREATE:
                _set_create_request_id([entry], "")
            error = errors.error_for(status=200, fault=fault)
            logger.info("qbo.sync.batch.item_fault entry=%s code=%s", entry.pk, error.code)
            single.append(entry)
            continue
        qbo = answer.get("Invoice") or {}
        try:
            if item.operation == CREATE:
                if item.then_single or _content_differs(item.payload, qbo):
                    # Linked from the replayed answer; the single push does the rest (an update if the answer holds
                    # the version first sent, the customer's update, the void).
                    differs = _content_differs(item.payload, qbo)
                    fingerprint = "" if differs else item.fingerprint
                    _save_link(connection, LinkType.INVOICE, invoice.pk, qbo, fingerprint, invoice.updated_at)
                    _set_create_request_id([entry], "")
                    single.append(entry)
                    continue
                _save_link(connection, LinkType.INVOICE, invoice.pk, qbo, item.fingerprint, invoice.updated_at)
                verb = "Created"
            else:
                _store_write(item.link, qbo, item.fingerprint, invoice.updated_at)
                verb = "Updated"
            result = _verified(
                invoice,
                qbo,
                item.plan,
                item.profile,
                item.customer_id,
                verb=verb,
                status=SyncStatus.SUCCEEDED,
                connection=connection,
            )
        except PushRefused as exc:  # the QuickBooks invoice is linked to another invoice here (link conflict)
            finish(entry, SyncStatus.FAILED, exc.message, client=client, error_code=exc.qbo_code or exc.code)
            continue
        except Exception as exc:
            logger.exception("qbo.sync.batch.record_crashed entry=%s", entry.pk)
            retry_later(entry, exc, client)
            continue
        # Recorded as the single push records it; payments recorded here can only have waited for an invoice
        # that has some.
        record_result(entry, replace(result, payments_may_wait=bool(invoice.amount_paid)), connection, client)
