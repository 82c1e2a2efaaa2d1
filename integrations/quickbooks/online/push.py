"""The push itself: make QuickBooks hold one invoice exactly as we hold it, and prove it from the answer.

Create (with a `requestid` that survives retries, so a create whose answer was lost is replayed, never
repeated), sparse update, or full update when something must be cleared (QBO-REFERENCE §2.4: a sparse update
cannot clear; a full update starts from the whole current object, cached from the last write's answer and
re-read on 5010). Every write's answer is compared with our invoice (`verification`): a difference is recorded
as drift, never reported as a plain success.

The data flows one way (docs/decisions/0016): billing models → pre-flight and mapping resolution
(`integrations/books/preflight.py`) → the books document → the Online renderer (`render.py`) → the one client.
The outbox (`integrations/outbox/`) owns the queue and what happens after each outcome (the Online runner,
`runner.py`, maps this module's outcomes and errors to it); this module only talks to QuickBooks through the one
client and keeps the links.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import CharField, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.core.prepared import PreparedQuery
from integrations.books.preflight import (
    PushPlan,
    PushRefused,
    online_customer,
    online_invoice,
    online_payment,
    preflight,
)
from integrations.exceptions import DuplicateDocNumber, QuickBooksError, StaleObject, Unavailable, ValidationFailed
from integrations.models import (
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
    SyncOperation,
    SyncStatus,
)
from integrations.outbox.outcomes import PushResult
from integrations.quickbooks.client import QuickBooksClient
from integrations.quickbooks.errors import CODE_DUPLICATE_NAME
from integrations.quickbooks.online.render import (
    CUSTOMER_KEPT_FIELDS,
    CUSTOMER_MANAGED_FIELDS,
    INVOICE_KEPT_FIELDS,
    INVOICE_MANAGED_FIELDS,
    CompanyProfile,
    CustomerPayload,
    InvoicePayload,
    PaymentPayload,
    clears_something,
    full_update_body,
    is_ours,
    payload_hash,
    render_customer,
    render_invoice,
    render_payment,
)
from integrations.services.verification import drift_record, invoice_differences, likely_causes

logger = logging.getLogger("qbo.sync")

REQUEST_ID_PREFIX = "aq"


def request_id(entry: QuickBooksSyncLog, step: str, variant: str = "") -> str:
    """Idempotency key: the same (entry, generation, step, variant) replays instead of writing twice."""
    return f"{REQUEST_ID_PREFIX}{entry.pk}g{entry.generation}-{step}{('-' + variant) if variant else ''}"[:50]


def company_profile(connection: QuickBooksConnection) -> CompanyProfile:
    return CompanyProfile(
        tax_style=connection.tax_style or "us",
        home_currency=connection.home_currency,
        multicurrency_enabled=connection.multicurrency_enabled,
        sales_tax_mode=connection.sales_tax_mode,
    )


def customer_payload(client, profile: CompanyProfile) -> CustomerPayload:
    """Our client as the QuickBooks Customer we send (books document → renderer)."""
    return render_customer(online_customer(client), profile)


def invoice_payload(invoice, *, customer_id: str, lines, profile: CompanyProfile, tax=None) -> InvoicePayload:
    """Our invoice with its resolved lines (`PushPlan.lines`) and tax (`PushPlan.tax`) as the QuickBooks Invoice we
    send (books document → renderer)."""
    return render_invoice(online_invoice(invoice, lines=lines, tax=tax, customer_id=customer_id), profile)


def _invoice_body(plan: PushPlan, customer_id: str, profile: CompanyProfile) -> InvoicePayload:
    document = plan.document
    return render_invoice(replace(document, customer=replace(document.customer, id=customer_id)), profile)


def payment_payload(
    payment,
    *,
    customer_id: str,
    invoice_qbo_id: str,
    method_id: str | None = None,
    deposit_account_id: str | None = None,
    currency: str | None = None,
) -> PaymentPayload:
    """A Payment applied to one invoice (books document → renderer). No DepositToAccountRef = Undeposited Funds."""
    document = online_payment(
        payment,
        customer_id=customer_id,
        invoice_qbo_id=invoice_qbo_id,
        method_id=method_id,
        deposit_account_id=deposit_account_id,
        currency=currency,
    )
    return render_payment(document)


def invoice_push(*, entry: QuickBooksSyncLog, connection: QuickBooksConnection, client: QuickBooksClient) -> PushResult:
    """Make QuickBooks hold this invoice as it is now: create it, update it, or void it; then check the answer.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    """
    invoice = entry.claimed_invoice if hasattr(entry, "claimed_invoice") else claimed_invoice(entry)
    if invoice is None:
        return PushResult(SyncStatus.SKIPPED, "The invoice no longer exists here; nothing was sent.")
    if entry.operation == SyncOperation.VOID or invoice.status == InvoiceStatus.VOID:
        return _void_invoice(entry, invoice, connection, client)
    if invoice.status == InvoiceStatus.DRAFT:
        return PushResult(SyncStatus.SKIPPED, "Drafts are not sent to QuickBooks.")
    profile = company_profile(connection)
    plan = preflight(invoice, connection=connection, profile=profile)
    links = _claimed_links(connection, invoice)
    customer_id = _ensure_customer(entry, invoice.client, connection, client, profile, link=links.get(LinkType.CLIENT))
    payload = _invoice_body(plan, customer_id, profile)
    fingerprint = payload_hash(payload)
    link = links.get(LinkType.INVOICE)
    if link is not None and link.payload_hash == fingerprint and link.qbo_snapshot:
        # QuickBooks already has this version: no call. Its last answer is still checked (a payment recorded
        # here changes our balance, not the payload).
        _touch_link(link, source_updated_at=invoice.updated_at)
        return _verified(
            invoice,
            link.qbo_snapshot,
            plan,
            profile,
            customer_id,
            verb="Up to date",
            status=SyncStatus.UP_TO_DATE,
            connection=connection,
        )
    if link is None:
        created = _create_invoice(entry, invoice, payload, connection, client)
        if _content_differs(payload, created):
            # A replayed create returns the version first sent; make QuickBooks hold this one.
            created = _update(client, "Invoice", payload, created, entry, "iu", fingerprint)
        link = _save_link(connection, LinkType.INVOICE, invoice.pk, created, fingerprint, invoice.updated_at)
        verb = "Created"
    else:
        current = link.qbo_snapshot or client.read("Invoice", link.qbo_id)  # links from before answers were kept
        current = {**current, "SyncToken": link.sync_token or current.get("SyncToken", "")}
        updated = _update(client, "Invoice", payload, current, entry, "iu", fingerprint)
        _store_write(link, updated, fingerprint, invoice.updated_at)
        verb = "Updated"
    result = _verified(
        invoice,
        link.qbo_snapshot,
        plan,
        profile,
        customer_id,
        verb=verb,
        status=SyncStatus.SUCCEEDED,
        connection=connection,
    )
    if not invoice.amount_paid:
        result = replace(result, payments_may_wait=False)  # no payment recorded here: none can be waiting
    return result


def _verified(
    invoice, answer: dict, plan: PushPlan, profile, customer_id: str, *, verb: str, status: str, connection=None
):
    """The outcome, checked against QuickBooks' answer: `status` when the figures agree, drift otherwise. With
    payments recorded here, the balance expected is the one counting only the payments QuickBooks has (those not
    sent yet go right after the invoice, and their push checks the balance again); one whose push failed counts."""
    balance = None
    if invoice.amount_paid and connection is not None:
        from integrations.services.payments import balance_expected_in_quickbooks

        balance = balance_expected_in_quickbooks(invoice, connection)
    differences = invoice_differences(
        invoice, answer, line_amounts=[line.amount for line in plan.lines], customer_id=customer_id, balance=balance
    )
    qbo_id = str(answer.get("Id", ""))
    notes = "".join(f" {note}" for note in plan.notes)
    if not differences:
        if status == SyncStatus.UP_TO_DATE:
            message = f"Up to date: QuickBooks already has this version of invoice {invoice.number} (Id {qbo_id})."
        else:
            message = f"{verb} invoice {invoice.number} in QuickBooks (Id {qbo_id}); its figures match ours."
        return PushResult(status, message + notes, qbo_id=qbo_id)
    causes = likely_causes(differences, invoice=invoice, profile=profile)
    logger.warning(
        "qbo.invoice.drift company=%s invoice=%s qbo_id=%s fields=%s",
        invoice.company_id,
        invoice.pk,
        qbo_id,
        ",".join(d.field for d in differences),
    )
    listed = "; ".join(str(d) for d in differences)
    message = f"{verb} invoice {invoice.number} in QuickBooks (Id {qbo_id}), but QuickBooks differs: {listed}."
    if causes:
        message += f" Likely cause: {causes[0]}"
    return PushResult(SyncStatus.DRIFT, message + notes, qbo_id=qbo_id, drift=drift_record(differences, causes))


# --- the push's one read ----------------------------------------------------------------------------------


def _link_subquery(object_type: str, object_id: str, columns):
    return Subquery(
        QuickBooksLink.objects.filter(
            company_id=OuterRef("company_id"),
            realm_id=OuterRef("company__quickbooks_connection__realm_id"),
            object_type=object_type,
            object_id=OuterRef(object_id),
        )
        .order_by()
        .annotate(link_key=columns)
        .values("link_key")[:1]
    )


# The invoice with its client, company and the company's connection, and what the push needs of the two links
# (the client's: id, QuickBooks id, SyncToken and fingerprint, "id|qbo_id|sync_token|payload_hash"; the invoice's:
# its id), in one SELECT compiled once per process. The links are read fresh with every push, so a link written
# by another worker, a relink or an unlink is seen at once: no cache to invalidate.
_CLIENT_LINK_FIELDS = ("id", "qbo_id", "sync_token", "payload_hash")
_claimed_invoice = PreparedQuery(
    lambda invoice_id, company_id: (
        Invoice.objects.select_related("client", "company__quickbooks_connection")
        .filter(pk=invoice_id, company_id=company_id)
        .order_by()
        .annotate(
            client_link_key=_link_subquery(
                LinkType.CLIENT,
                "client_id",
                Concat(
                    *[part for name in _CLIENT_LINK_FIELDS for part in (Cast(name, CharField()), Value("|"))][:-1],
                    output_field=CharField(),
                ),
            ),
            invoice_link_id=_link_subquery(LinkType.INVOICE, "pk", F("pk")),
        )
    ),
    invoice_id=int,
    company_id=int,
)
_link_by_id = PreparedQuery(lambda link_id: QuickBooksLink.objects.filter(pk=link_id), link_id=int)


def claimed_invoice(entry: QuickBooksSyncLog) -> Invoice | None:
    """The entry's invoice, with its client, company, the company's connection (`invoice.company.
    quickbooks_connection`, unset when none) and its links' keys: the worker reads it right after the claim and
    keeps it on the entry (`entry.claimed_invoice`) for `invoice_push`."""
    invoice = _claimed_invoice.first(invoice_id=entry.object_id, company_id=entry.company_id)
    entry.claimed_invoice = invoice
    return invoice


def _claimed_links(connection, invoice) -> dict[str, QuickBooksLink]:
    """The invoice's and its client's links from the keys read with the invoice (the invoice's link is read whole
    when there is one: an update needs its last answer). The client's link is a partial instance: its snapshot is
    read only when used (a customer update)."""
    links = {}
    if invoice.client_link_key:
        pk, qbo_id, sync_token, fingerprint = invoice.client_link_key.split("|")
        links[LinkType.CLIENT] = QuickBooksLink.from_db(
            db_connection.alias,
            ["id", "company_id", "realm_id", "object_type", "object_id", *_CLIENT_LINK_FIELDS[1:]],
            [int(pk), connection.company_id, connection.realm_id, LinkType.CLIENT, invoice.client_id, qbo_id,
             sync_token, fingerprint],
        )  # fmt: skip
    if invoice.invoice_link_id is not None and (link := _link_by_id.first(link_id=invoice.invoice_link_id)):
        links[LinkType.INVOICE] = link
    return links


# --- links ------------------------------------------------------------------------------------------------


def _link(connection, object_type: str, object_id: int) -> QuickBooksLink | None:
    return QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_id, object_type=object_type, object_id=object_id
    ).first()


def _links_for(connection, invoice) -> dict[str, QuickBooksLink]:
    """The invoice's and its client's links, in one query."""
    from django.db.models import Q

    links = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id).filter(
        Q(object_type=LinkType.INVOICE, object_id=invoice.pk)
        | Q(object_type=LinkType.CLIENT, object_id=invoice.client_id)
    )
    return {link.object_type: link for link in links}


def _save_link(
    connection, object_type, object_id, qbo_object: dict, fingerprint: str, source_updated_at=None
) -> QuickBooksLink:
    """Insert the link (one statement); if another worker linked it meanwhile, update that row instead."""
    values = {
        "qbo_id": str(qbo_object["Id"]),
        "sync_token": str(qbo_object.get("SyncToken", "")),
        "payload_hash": fingerprint,
        "qbo_snapshot": qbo_object,
        "source_updated_at": source_updated_at,
    }
    key = {
        "company_id": connection.company_id,
        "realm_id": connection.realm_id,
        "object_type": object_type,
        "object_id": object_id,
    }
    try:
        if db_connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a refused insert must not spoil the caller's transaction
                return QuickBooksLink.objects.create(**key, **values)
        return _insert_link(key, values)  # autocommit (the worker): one statement
    except IntegrityError:
        if QuickBooksLink.objects.filter(**key).update(**values, updated_at=timezone.now()):
            return QuickBooksLink.objects.get(**key)  # another worker linked this object meanwhile
    what = "customer" if object_type == LinkType.CLIENT else "invoice"
    raise PushRefused(
        f"QuickBooks {what} {values['qbo_id']} is already linked to another {what} here, so it cannot be linked to "
        f"this one too. Check the two in QuickBooks (a merge or a rename there can cause this), then retry.",
        qbo_code="link_conflict",
    )


_LINK_INSERT_FIELDS = (
    "company_id", "realm_id", "object_type", "object_id", "qbo_id", "sync_token", "payload_hash", "qbo_snapshot",
    "source_updated_at", "voided", "created_at", "updated_at",
)  # fmt: skip
_link_insert_sql: dict[str, str] = {}


def _insert_link(key: dict, values: dict) -> QuickBooksLink:
    """`QuickBooksLink.objects.create(**key, **values)` as one `INSERT … RETURNING id` whose SQL is written once per
    database (values prepared by the same fields; a push inserts a link every time it creates something)."""
    meta = QuickBooksLink._meta
    now = timezone.now()
    row = {**key, **values, "voided": False, "created_at": now, "updated_at": now}
    fields = [meta.get_field(name) for name in _LINK_INSERT_FIELDS]
    sql = _link_insert_sql.get(db_connection.vendor)
    if sql is None:
        quote = db_connection.ops.quote_name
        sql = _link_insert_sql[db_connection.vendor] = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote('id')}"
        )
    params = [field.get_db_prep_save(row[field.attname], connection=db_connection) for field in fields]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        (link_id,) = cursor.fetchone()
    link = QuickBooksLink(id=link_id, **row)
    link._state.adding, link._state.db = False, db_connection.alias
    return link


def _store_write(link: QuickBooksLink, answer: dict, fingerprint: str, source_updated_at) -> None:
    """Keep what QuickBooks answered: its SyncToken and the whole object (the base of the next full update)."""
    link.sync_token = str(answer.get("SyncToken", ""))
    link.payload_hash = fingerprint
    link.qbo_snapshot = answer
    link.source_updated_at = source_updated_at
    QuickBooksLink.objects.filter(pk=link.pk).update(
        sync_token=link.sync_token,
        payload_hash=fingerprint,
        qbo_snapshot=answer,
        source_updated_at=source_updated_at,
        updated_at=timezone.now(),
    )


def _touch_link(link: QuickBooksLink, *, source_updated_at) -> None:
    if link.source_updated_at != source_updated_at:
        link.source_updated_at = source_updated_at
        QuickBooksLink.objects.filter(pk=link.pk).update(source_updated_at=source_updated_at)


# --- writes -----------------------------------------------------------------------------------------------


# Per entity: the fields we manage (left out of a full update = cleared) and those kept from QuickBooks' object.
UPDATE_FIELDS = {
    "Invoice": (INVOICE_MANAGED_FIELDS, INVOICE_KEPT_FIELDS),
    "Customer": (CUSTOMER_MANAGED_FIELDS, CUSTOMER_KEPT_FIELDS),
}


def _update(
    client: QuickBooksClient, entity: str, payload: dict, current: dict, entry, step: str, fingerprint: str
) -> dict:
    """Update `current` to hold `payload`: sparse when nothing must be cleared, else a full update built from the
    whole current object. On 5010 (someone else changed it, e.g. a payment) re-read and do it once more on the
    fresh object (QBO-REFERENCE §2.4)."""
    managed, kept = UPDATE_FIELDS[entity]

    def send(base: dict) -> dict:
        rid = request_id(entry, step, f"{base.get('SyncToken', '')}-{fingerprint[:8]}")
        if clears_something(payload, base, managed):
            return client.full_update(entity, full_update_body(payload, base, kept), request_id=rid)
        return client.sparse_update(
            entity, {"Id": base["Id"], "SyncToken": base.get("SyncToken", ""), **payload}, request_id=rid
        )

    try:
        return send(current)
    except StaleObject:
        return send(client.read(entity, str(current["Id"])))


def _content_differs(payload: dict, qbo: dict) -> bool:
    """Whether a QuickBooks invoice holds something else than `payload` in the fields we send."""
    for name, ours in payload.items():
        if name == "Line":
            theirs = [line for line in qbo.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
            if len(theirs) != len(ours):
                return True
            for our_line, their_line in zip(ours, theirs, strict=True):
                if _differs(our_line, their_line):
                    return True
        elif _differs(ours, qbo.get(name)):
            return True
    return clears_something(payload, qbo, INVOICE_MANAGED_FIELDS)


def _differs(ours, theirs) -> bool:
    if ours == theirs and type(ours) is type(theirs):
        return False  # (the usual answer, found without converting numbers)
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return True
        for key, value in ours.items():  # (a loop, not any(…): this runs for every field of every line)
            if key != "name" and _differs(value, theirs.get(key)):
                return True
        return False
    if isinstance(ours, int | float) and not isinstance(ours, bool):
        try:
            return Decimal(str(ours)) != Decimal(str(theirs))
        except (ArithmeticError, ValueError):
            return True
    return ours != theirs


_SET_CREATE_REQUEST_ID = f"UPDATE {QuickBooksSyncLog._meta.db_table} SET create_request_id = %s WHERE id = %s"  # noqa: S608


def create_request_id(entry: QuickBooksSyncLog) -> str:
    """The requestid of this invoice's create, written on the entry right before the create is sent.

    A create whose answer never came stays unresolved until the same requestid gets an answer (Intuit replays it
    if it landed, or creates it now), whichever attempt, retry or entry sends it next: a new entry inherits it
    (`outbox.enqueue.sync_enqueue`, and the follower of a rerun), a success clears it, and a refused create frees it
    so a corrected retry is evaluated afresh. A non-empty value therefore means "a create was sent, outcome unknown".
    """
    if entry.create_request_id:
        return entry.create_request_id
    rid = request_id(entry, "ic")
    with db_connection.cursor() as cursor:  # (plain SQL: the ORM's UPDATE compiles slower than this runs)
        cursor.execute(_SET_CREATE_REQUEST_ID, [rid, entry.pk])
    entry.create_request_id = rid
    return rid


def _release_create_request_id(entry: QuickBooksSyncLog) -> None:
    QuickBooksSyncLog.objects.filter(
        company_id=entry.company_id, entity_type=entry.entity_type, object_id=entry.object_id, realm_id=entry.realm_id
    ).exclude(create_request_id="").update(create_request_id="")
    entry.create_request_id = ""


def _create_invoice(entry, invoice, payload, connection, client: QuickBooksClient) -> dict:
    from integrations.quickbooks.online.batch import NotInBatch, is_batch_request_id, replay_batch_create  # (cycle)

    rid = create_request_id(entry)
    try:
        if is_batch_request_id(rid):
            # An outbox batch sent this create and its answer was lost: send that batch again (Intuit replays it,
            # or applies it now), never a plain create under the batch's requestid.
            try:
                return replay_batch_create(client, rid, invoice.pk, payload)
            except NotInBatch:
                _release_create_request_id(entry)  # that batch never held it: a create of its own
                rid = create_request_id(entry)
        return client.create("Invoice", payload, request_id=rid)
    except Unavailable:
        raise  # outcome unknown: the requestid stays for the next attempt
    except DuplicateDocNumber as exc:
        _release_create_request_id(entry)
        existing = client.find("Invoice", DocNumber=invoice.number)
        if existing is not None and is_ours(existing.get("PrivateNote"), invoice.company_id, invoice.pk):
            return existing  # we created it before (a reply that never arrived)
        adopted = _adopt_duplicate_number(entry, invoice, payload, connection, client, existing)
        if adopted is not None:
            return adopted
        raise PushRefused(
            f"QuickBooks already has invoice {invoice.number}, and attune did not create it. Change the invoice "
            "number here, or renumber the one in QuickBooks, then retry.",
            qbo_code=exc.code or "6140",
            payload=dict(payload),
        ) from exc
    except QuickBooksError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 429):
            _release_create_request_id(entry)  # refused for good: the corrected retry needs a fresh requestid
        raise


def _adopt_duplicate_number(entry, invoice, payload, connection, client: QuickBooksClient, existing) -> dict | None:
    """The adoption policy at a 6140 for a number attune did not create (services/adoption.py): "create anyway"
    creates a second invoice with `include=allowduplicatedocnum` (QBO-REFERENCE §3.3); "link matches" takes the
    found invoice when customer, total and date agree. None: refuse as before."""
    from integrations.models import AdoptionPolicy
    from integrations.services.adoption import invoice_match_differences, policy_for_invoice

    policy = policy_for_invoice(connection, invoice.pk)
    if policy == AdoptionPolicy.CREATE:
        return client.create(
            "Invoice", payload, request_id=request_id(entry, "icd"), params={"include": "allowduplicatedocnum"}
        )
    if policy == AdoptionPolicy.LINK and existing is not None:
        from itertools import islice

        from integrations.quickbooks.client import select_statement

        # Two QuickBooks invoices with this number: ambiguous, never linked by itself (one read, two rows at most).
        statement = select_statement("Invoice", DocNumber=invoice.number)
        if len(list(islice(client.query(statement, entity="Invoice", page_size=2), 2))) != 1:
            return None
        customer_id = (payload.get("CustomerRef") or {}).get("value")
        if not invoice_match_differences(invoice, existing, customer_id=customer_id):
            logger.info(
                "qbo.invoice.adopted company=%s invoice=%s qbo_id=%s",
                invoice.company_id,
                invoice.pk,
                existing.get("Id"),
            )
            return existing
    return None


# --- customers --------------------------------------------------------------------------------------------


def _ensure_customer(
    entry, our_client, connection, client: QuickBooksClient, profile, link: QuickBooksLink | None
) -> str:
    """The QuickBooks Customer of this client: linked (and updated if we changed it) → found by DisplayName →
    created."""
    payload = customer_payload(our_client, profile)
    fingerprint = payload_hash(payload)
    if link is not None:
        if link.payload_hash != fingerprint:
            update = {k: v for k, v in payload.items() if k != "CurrencyRef"}  # currency is fixed after create
            current = link.qbo_snapshot or client.read("Customer", link.qbo_id)
            current = {**current, "SyncToken": link.sync_token or current.get("SyncToken", "")}
            updated = _update(client, "Customer", update, current, entry, "cu", fingerprint)
            _store_write(link, updated, fingerprint, our_client.updated_at)
        return link.qbo_id
    name = payload["DisplayName"]
    found = client.find("Customer", DisplayName=name)
    if found is None:
        try:
            # The requestid names the client and its content: a replay can only ever return this client's customer,
            # even if the invoice's client changed while this entry waited for a retry.
            found = client.create(
                "Customer", payload, request_id=request_id(entry, "cc", f"{our_client.pk}-{fingerprint[:8]}")
            )
        except ValidationFailed as exc:
            if exc.code != CODE_DUPLICATE_NAME:
                raise
            found = _adopt_duplicate_name(entry, our_client, connection, client, exc)
    else:
        # Found by name: it takes what we hold, but what only QuickBooks has (an e-mail we lack) is not cleared.
        update = {k: v for k, v in payload.items() if k != "CurrencyRef" and _differs(v, found.get(k))}
        if update:
            found = client.sparse_update(
                "Customer",
                {"Id": found["Id"], "SyncToken": found.get("SyncToken", ""), **update},
                request_id=request_id(entry, "cf", f"{found['Id']}-{fingerprint[:8]}"),
            )
    _save_link(connection, LinkType.CLIENT, our_client.pk, found, fingerprint, our_client.updated_at)
    return str(found["Id"])


def _adopt_duplicate_name(entry, our_client, connection, client: QuickBooksClient, exc) -> dict:
    """6240: the name is taken. Either another worker just created this client's customer (we find our link or
    an active customer with our e-mail), or an inactive customer with our e-mail can be reactivated; otherwise
    a vendor, employee or someone else's customer has the name, and a person must choose."""
    link = _link(connection, LinkType.CLIENT, our_client.pk)
    if link is not None:
        return link.qbo_snapshot or {"Id": link.qbo_id, "SyncToken": link.sync_token}
    name = our_client.display_name
    for active in (True, False):
        candidate = client.find("Customer", DisplayName=name, Active=active)
        their_email = ((candidate or {}).get("PrimaryEmailAddr") or {}).get("Address", "")
        if candidate and our_client.email and their_email.lower() == our_client.email.lower():
            if active:
                return candidate
            return client.sparse_update(
                "Customer",
                {"Id": candidate["Id"], "SyncToken": candidate["SyncToken"], "Active": True},
                request_id=request_id(entry, "cr", str(candidate["Id"])),
            )
    raise PushRefused(
        f"QuickBooks already has a customer, vendor or employee named “{name}” with a different e-mail. "
        "Rename the client here (or the other one in QuickBooks), then retry.",
        qbo_code=CODE_DUPLICATE_NAME,
    ) from exc


# --- void -------------------------------------------------------------------------------------------------


def _replay_lost_create(entry, invoice, connection, client: QuickBooksClient) -> QuickBooksLink:
    """Send the invoice's unresolved create again with its own requestid: Intuit answers the invoice the lost
    create made (or makes it now, which the void then cancels). The invoice is linked either way."""
    profile = company_profile(connection)
    plan = preflight(invoice, connection=connection, profile=profile)
    links = _links_for(connection, invoice)
    customer_id = _ensure_customer(entry, invoice.client, connection, client, profile, link=links.get(LinkType.CLIENT))
    payload = _invoice_body(plan, customer_id, profile)
    created = _create_invoice(entry, invoice, payload, connection, client)
    return _save_link(connection, LinkType.INVOICE, invoice.pk, created, "", invoice.updated_at)


def _void_invoice(entry, invoice, connection, client: QuickBooksClient) -> PushResult:
    link = _link(connection, LinkType.INVOICE, invoice.pk)
    if link is None and entry.create_request_id:
        # A create was sent and its answer lost (perhaps before a renumber): replay it by its requestid, so the
        # invoice it made, if any, is found and voided rather than left open in QuickBooks.
        link = _replay_lost_create(entry, invoice, connection, client)
    if link is None:
        # A create whose answer was lost may still have landed: find it by DocNumber before calling it absent.
        found = client.find("Invoice", DocNumber=invoice.number)
        if found is None or not is_ours(found.get("PrivateNote"), invoice.company_id, invoice.pk):
            return PushResult(
                SyncStatus.UP_TO_DATE, f"Invoice {invoice.number} never reached QuickBooks; nothing to void."
            )
        link = _save_link(connection, LinkType.INVOICE, invoice.pk, found, "")
    if link.voided:
        _touch_link(link, source_updated_at=invoice.updated_at)
        return PushResult(SyncStatus.UP_TO_DATE, "Up to date: already void in QuickBooks.", qbo_id=link.qbo_id)
    try:
        voided = client.void(
            "Invoice", entity_id=link.qbo_id, sync_token=link.sync_token, request_id=request_id(entry, "iv")
        )
    except StaleObject:
        current = client.read("Invoice", link.qbo_id)
        voided = client.void(
            "Invoice",
            entity_id=link.qbo_id,
            sync_token=str(current.get("SyncToken", "")),
            request_id=request_id(entry, "iv", str(current.get("SyncToken", ""))),
        )
    QuickBooksLink.objects.filter(pk=link.pk).update(
        voided=True,
        sync_token=str(voided.get("SyncToken", link.sync_token)),
        qbo_snapshot=voided,
        source_updated_at=invoice.updated_at,
        updated_at=timezone.now(),
    )
    differences = invoice_differences(invoice, voided, line_amounts=[])
    if differences:
        return PushResult(
            SyncStatus.DRIFT,
            f"Voided invoice {invoice.number} in QuickBooks, but QuickBooks still shows it open.",
            qbo_id=link.qbo_id,
            drift=drift_record(differences, ["QuickBooks did not take the void."]),
        )
    return PushResult(SyncStatus.SUCCEEDED, f"Voided invoice {invoice.number} in QuickBooks.", qbo_id=link.qbo_id)
