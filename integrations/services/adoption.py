"""Adoption, not duplication: when QuickBooks already holds an invoice with our number, or a customer with our
client's name, link ours to it instead of creating a second one (docs/customer/integrations/
adoption-and-reconciliation.md).

Invoices match by DocNumber (exact, case-insensitive), then agree when customer (the client's link, else its
name), total and date are the same: those are linked; the rest are conflicts, shown with the differences and
never pushed over. A number held by two QuickBooks invoices is *ambiguous*: shown, never linked by itself.
Clients match by their link, then DisplayName (case-insensitive), then e-mail.

Reads are metered by Intuit (QBO-REFERENCE §0.6): `adoption_check` reads Customers and Invoices once (paged)
and stores the candidates with the number of reads; the page shows the stored result.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from attune_qbo.billing.models import Client, Invoice, InvoiceStatus
from attune_qbo.core.exceptions import ValidationError
from attune_qbo.core.money import round_cents
from integrations.models import (
    AdoptionAction,
    AdoptionDecision,
    AdoptionPolicy,
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksReview,
    ReviewKind,
)
from integrations.services.verification import Difference

logger = logging.getLogger("qbo.adoption")

AGREES, CONFLICT, AMBIGUOUS = "agrees", "conflict", "ambiguous"


@dataclass
class Candidate:
    """One of our objects and the QuickBooks object(s) it may be."""

    kind: str  # invoice | client
    our_id: int
    our_label: str
    ours: dict
    qbo_id: str  # empty when ambiguous
    theirs: dict
    score: int  # 0–100
    state: str  # agrees | conflict | ambiguous
    differences: list[dict] = field(default_factory=list)
    qbo_ids: list[str] = field(default_factory=list)
    snapshot: dict | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.our_id}"


@dataclass
class AdoptionReport:
    candidates: list[Candidate]
    reads: int


def _money(value) -> Decimal | None:
    try:
        return round_cents(Decimal(str(value)))
    except (ArithmeticError, ValueError, TypeError):
        return None


def invoice_match_differences(
    invoice, qbo: dict, *, customer_id: str | None = None, customer_name: str | None = None
) -> list[Difference]:
    """How a QuickBooks invoice with our number differs from ours in what adoption compares: customer (by the
    QuickBooks id our client is linked to, else by name), total and date."""
    differences: list[Difference] = []
    ref = qbo.get("CustomerRef") or {}
    if customer_id:
        if str(ref.get("value") or "") != str(customer_id):
            differences.append(
                Difference("customer", "Customer", f"QuickBooks customer {customer_id}", str(ref.get("value") or ""))
            )
    else:
        theirs_name = str(ref.get("name") or customer_name or "")
        ours_name = invoice.client.display_name
        if theirs_name.strip().lower() != ours_name.strip().lower():
            differences.append(Difference("customer", "Customer", ours_name, theirs_name or "(unknown)"))
    ours_total, theirs_total = round_cents(invoice.total), _money(qbo.get("TotalAmt"))
    if ours_total != theirs_total:
        differences.append(
            Difference("total", "Total", f"{ours_total:.2f}", "—" if theirs_total is None else f"{theirs_total:.2f}")
        )
    if invoice.issue_date.isoformat() != (qbo.get("TxnDate") or ""):
        differences.append(Difference("date", "Date", invoice.issue_date.isoformat(), qbo.get("TxnDate") or "(none)"))
    return differences


def _invoice_score(differences: list[Difference]) -> int:
    weights = {"customer": 25, "total": 25, "date": 10}
    return max(0, 100 - sum(weights.get(d.field, 10) for d in differences))


def _customer_name(customers: dict[str, dict], qbo: dict) -> str:
    ref = qbo.get("CustomerRef") or {}
    return str(ref.get("name") or (customers.get(str(ref.get("value") or "")) or {}).get("DisplayName") or "")


def adoption_candidates(*, connection: QuickBooksConnection) -> AdoptionReport:
    """Read QuickBooks' Customers and Invoices (paged queries, counted) and match our unlinked clients and
    invoices against them. Nothing is written.

    https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries
    """
    from integrations.services.api import client_for

    client = client_for(connection)
    customers = {str(c["Id"]): c for c in client.query("select * from Customer", entity="Customer")}
    invoices = {str(i["Id"]): i for i in client.query("select * from Invoice", entity="Invoice")}
    return AdoptionReport(candidates=match(connection, customers, invoices), reads=client.calls)


def match(connection: QuickBooksConnection, customers: dict[str, dict], invoices: dict[str, dict]) -> list[Candidate]:
    """The candidates for what QuickBooks holds (`customers` and `invoices` by Id)."""
    links = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id)
    linked_qbo = {(t, q) for t, q in links.values_list("object_type", "qbo_id")}
    client_links = dict(links.filter(object_type=LinkType.CLIENT).values_list("object_id", "qbo_id"))
    invoice_linked = set(links.filter(object_type=LinkType.INVOICE).values_list("object_id", flat=True))
    decided = set(
        AdoptionDecision.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id).values_list(
            "object_type", "object_id"
        )
    )
    candidates: list[Candidate] = []

    free_customers = [c for cid, c in customers.items() if (LinkType.CLIENT, cid) not in linked_qbo]
    by_name: dict[str, list[dict]] = {}
    by_email: dict[str, list[dict]] = {}
    for customer in free_customers:
        by_name.setdefault(str(customer.get("DisplayName") or "").strip().lower(), []).append(customer)
        email = str((customer.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().lower()
        if email:
            by_email.setdefault(email, []).append(customer)
    for our in Client.objects.filter(company_id=connection.company_id).exclude(pk__in=client_links.keys()):
        if (LinkType.CLIENT, our.pk) in decided:
            continue
        found = by_name.get(our.display_name.strip().lower(), [])
        score = 90
        if not found and our.email:
            found, score = by_email.get(our.email.strip().lower(), []), 70
        if not found:
            continue
        ours = {"name": our.display_name, "email": our.email or ""}
        if len(found) > 1:
            candidates.append(
                Candidate(
                    "client",
                    our.pk,
                    our.display_name,
                    ours,
                    "",
                    {"name": "several"},
                    40,
                    AMBIGUOUS,
                    qbo_ids=[str(c["Id"]) for c in found],
                )
            )
            continue
        theirs_obj = found[0]
        theirs = {
            "name": str(theirs_obj.get("DisplayName") or ""),
            "email": str((theirs_obj.get("PrimaryEmailAddr") or {}).get("Address") or ""),
        }
        differences = []
        if theirs["name"].lower() != ours["name"].lower():
            differences.append(Difference("name", "Name", ours["name"], theirs["name"]))
        if ours["email"] and theirs["email"].lower() != ours["email"].lower():
            differences.append(Difference("email", "E-mail", ours["email"], theirs["email"] or "(none)"))
        if not differences:
            score = 100
        candidates.append(
            Candidate(
                "client",
                our.pk,
                our.display_name,
                ours,
                str(theirs_obj["Id"]),
                theirs,
                score,
                AGREES if theirs["name"].lower() == ours["name"].lower() else CONFLICT,
                differences=[asdict(d) for d in differences],
                snapshot=theirs_obj,
            )
        )

    by_number: dict[str, list[dict]] = {}
    for qbo_id, qbo in invoices.items():
        if (LinkType.INVOICE, qbo_id) in linked_qbo or not qbo.get("DocNumber"):
            continue
        by_number.setdefault(str(qbo["DocNumber"]).strip().lower(), []).append(qbo)
    ours_qs = (
        Invoice.objects.filter(company_id=connection.company_id)
        .exclude(status=InvoiceStatus.DRAFT)
        .exclude(pk__in=invoice_linked)
        .select_related("client")
        .order_by("number")
    )
    for invoice in ours_qs:
        if (LinkType.INVOICE, invoice.pk) in decided:
            continue
        found = by_number.get(invoice.number.strip().lower(), [])
        if not found:
            continue
        ours = {
            "number": invoice.number,
            "customer": invoice.client.display_name,
            "total": f"{round_cents(invoice.total):.2f}",
            "date": invoice.issue_date.isoformat(),
        }
        if len(found) > 1:
            candidates.append(
                Candidate(
                    "invoice",
                    invoice.pk,
                    invoice.number,
                    ours,
                    "",
                    {"number": invoice.number, "count": len(found)},
                    50,
                    AMBIGUOUS,
                    qbo_ids=sorted(str(q["Id"]) for q in found),
                )
            )
            continue
        qbo = found[0]
        differences = invoice_match_differences(
            invoice,
            qbo,
            customer_id=client_links.get(invoice.client_id),
            customer_name=_customer_name(customers, qbo),
        )
        theirs = {
            "number": str(qbo.get("DocNumber") or ""),
            "customer": _customer_name(customers, qbo) or str((qbo.get("CustomerRef") or {}).get("value") or ""),
            "total": "" if _money(qbo.get("TotalAmt")) is None else f"{_money(qbo.get('TotalAmt')):.2f}",
            "date": str(qbo.get("TxnDate") or ""),
        }
        candidates.append(
            Candidate(
                "invoice",
                invoice.pk,
                invoice.number,
                ours,
                str(qbo["Id"]),
                theirs,
                _invoice_score(differences),
                CONFLICT if differences else AGREES,
                differences=[asdict(d) for d in differences],
                snapshot=qbo,
            )
        )
    return candidates


# --- stored checks -------------------------------------------------------------------------------------------


def adoption_check(*, connection: QuickBooksConnection, user=None) -> QuickBooksReview:
    """Read QuickBooks once and store the candidates (the adoption page shows the stored result)."""
    report = adoption_candidates(connection=connection)
    review = QuickBooksReview.objects.create(
        company_id=connection.company_id,
        realm_id=connection.realm_id,
        kind=ReviewKind.ADOPTION,
        checked_by=user if getattr(user, "pk", None) else None,
        reads=report.reads,
        rows=[asdict(c) for c in report.candidates],
        summary={
            "agrees": sum(c.state == AGREES for c in report.candidates),
            "conflicts": sum(c.state == CONFLICT for c in report.candidates),
            "ambiguous": sum(c.state == AMBIGUOUS for c in report.candidates),
        },
    )
    logger.info(
        "qbo.adoption.checked company=%s candidates=%s reads=%s", connection.company_id, len(review.rows), report.reads
    )
    return review


def latest_review(*, connection: QuickBooksConnection, kind: str) -> QuickBooksReview | None:
    return (
        QuickBooksReview.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id, kind=kind)
        .order_by("-checked_at", "-id")
        .first()
    )


def open_candidates(*, connection: QuickBooksConnection, review: QuickBooksReview | None) -> list[dict]:
    """The stored candidates still waiting for a decision (linked or decided since are left out)."""
    if review is None:
        return []
    links = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id)
    linked = set(links.values_list("object_type", "object_id"))
    linked_qbo = set(links.values_list("object_type", "qbo_id"))
    decided = set(
        AdoptionDecision.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id).values_list(
            "object_type", "object_id"
        )
    )
    return [
        row
        for row in review.rows
        if (row["kind"], row["our_id"]) not in linked
        and (row["kind"], row["our_id"]) not in decided
        and (row["kind"], row["qbo_id"]) not in linked_qbo
    ]


# --- decisions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    kind: str
    our_id: int
    action: str
    qbo_id: str = ""


@dataclass
class ApplyReport:
    linked: int = 0
    queued: int = 0
    skipped: int = 0


def adoption_apply(*, connection: QuickBooksConnection, decisions, user) -> ApplyReport:
    """Carry out a person's decisions `[(kind, our_id, action, qbo_id)]`, all or none: link (to the QuickBooks
    object offered by the last check, never to another id), create (queue a push that may duplicate the number),
    skip (remembered, so the page stops offering it). A forged id, another company's object or an ambiguous
    match refuses the whole request and nothing is saved."""
    from attune_qbo.billing.models import Client as ClientModel

    review = latest_review(connection=connection, kind=ReviewKind.ADOPTION)
    offered = {(row["kind"], row["our_id"]): row for row in (review.rows if review else [])}
    plan = []
    for raw in decisions:
        decision = raw if isinstance(raw, Decision) else Decision(*raw)
        kind, action, qbo_id = decision.kind, decision.action, str(decision.qbo_id or "")
        try:
            our_id = int(decision.our_id)
        except (TypeError, ValueError):
            raise ValidationError(f"“{decision.our_id}” is not one of your objects.") from None
        if kind not in (LinkType.INVOICE, LinkType.CLIENT) or action not in AdoptionAction.values:
            raise ValidationError("Unknown decision.")
        model = Invoice if kind == LinkType.INVOICE else ClientModel
        our = model.objects.filter(company_id=connection.company_id, pk=our_id).first()
        if our is None:
            raise ValidationError(f"{kind.title()} {our_id} is not one of {connection.company}'s.")
        if action == AdoptionAction.LINK:
            row = offered.get((kind, our_id))
            if row is None or row["state"] == AMBIGUOUS or not qbo_id or row["qbo_id"] != qbo_id:
                raise ValidationError(
                    f"QuickBooks {'invoice' if kind == LinkType.INVOICE else 'customer'} {qbo_id or '?'} was not "
                    f"offered for {row['our_label'] if row else our_id}: press “Check now” and choose again."
                )
            if QuickBooksLink.objects.filter(realm_id=connection.realm_id, object_type=kind, qbo_id=qbo_id).exists():
                raise ValidationError(f"QuickBooks {kind} {qbo_id} is already linked.")
            if QuickBooksLink.objects.filter(
                company_id=connection.company_id, realm_id=connection.realm_id, object_type=kind, object_id=our_id
            ).exists():
                raise ValidationError(f"{row['our_label']} is already linked to a QuickBooks object.")
            plan.append((decision, our, row))
        else:
            if action == AdoptionAction.CREATE and kind == LinkType.INVOICE and our.status == InvoiceStatus.DRAFT:
                raise ValidationError(f"Invoice {our.number} is a draft.")
            plan.append((decision, our, offered.get((kind, our_id))))
    report = ApplyReport()
    with transaction.atomic():
        for decision, our, row in plan:
            if decision.action == AdoptionAction.LINK:
                _link(connection, decision.kind, our, row)
                report.linked += 1
            else:
                AdoptionDecision.objects.update_or_create(
                    company_id=connection.company_id,
                    realm_id=connection.realm_id,
                    object_type=decision.kind,
                    object_id=our.pk,
                    defaults={
                        "action": decision.action,
                        "qbo_id": (row or {}).get("qbo_id", ""),
                        "decided_by": user if getattr(user, "pk", None) else None,
                        "decided_at": timezone.now(),
                    },
                )
                if decision.action == AdoptionAction.CREATE and decision.kind == LinkType.INVOICE:
                    from integrations.outbox.enqueue import sync_now

                    sync_now(invoice=our, user=user)
                    report.queued += 1
                elif decision.action == AdoptionAction.SKIP:
                    report.skipped += 1
    logger.info(
        "qbo.adoption.applied company=%s linked=%s queued=%s skipped=%s",
        connection.company_id,
        report.linked,
        report.queued,
        report.skipped,
    )
    return report


def _link(connection, kind: str, our, row: dict) -> QuickBooksLink:
    """The link, with QuickBooks' object as its snapshot and an empty payload hash (the next push brings QuickBooks
    up to date); `source_updated_at` only when the figures agree (else the invoice shows as behind)."""
    from integrations.quickbooks.online.push import _save_link

    agrees = row["state"] == AGREES
    snapshot = row.get("snapshot") or {"Id": row["qbo_id"]}
    return _save_link(connection, kind, our.pk, snapshot, "", our.updated_at if agrees else None)


def agreeing_rows(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["state"] == AGREES]


def policy_for_invoice(connection: QuickBooksConnection, invoice_id: int) -> str:
    """The connection's policy, unless a person chose "Create" for this invoice on the adoption page."""
    decided = (
        AdoptionDecision.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_id,
            object_type=LinkType.INVOICE,
            object_id=invoice_id,
        )
        .values_list("action", flat=True)
        .first()
    )
    if decided == AdoptionAction.CREATE:
        return AdoptionPolicy.CREATE
    return connection.adoption_policy


def adoption_policy_set(*, connection: QuickBooksConnection, policy: str, user) -> None:
    if policy not in AdoptionPolicy.values:
        raise ValidationError("Pick one of the adoption policies.")
    QuickBooksConnection.objects.filter(pk=connection.pk).update(adoption_policy=policy, updated_at=timezone.now())
    connection.adoption_policy = policy
    logger.info("qbo.adoption.policy company=%s policy=%s", connection.company_id, policy)
