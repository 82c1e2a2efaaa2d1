"""The mapping page's side effects: reading QuickBooks' lists into the cache, saving mappings checked against
them, and creating a missing Item in QuickBooks.

QuickBooks ids are only trusted when they are in the cache read from this connection's realm: a forged id, an
inactive entry or one that vanished from QuickBooks is refused, so a saved mapping never makes pushes fail.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from attune_qbo.billing.models import PaymentMethod, Product, TaxRate
from attune_qbo.core.exceptions import ValidationError
from integrations.exceptions import QuickBooksError
from integrations.models import (
    DEFAULT_KEY,
    MappingKind,
    QuickBooksChoice,
    QuickBooksConnection,
    QuickBooksMapping,
    QuickBooksSyncLog,
    SyncStatus,
)
from integrations.quickbooks.client import select_statement

logger = logging.getLogger("qbo.mappings.page")

# The QuickBooks list each mapping kind points into, and (for accounts) which account types fit.
ENTITY_FOR_KIND = {
    MappingKind.ITEM: "Item",
    MappingKind.TAX_CODE: "TaxCode",
    MappingKind.SALES_TAX_CODE: "TaxCode",
    MappingKind.INCOME_ACCOUNT: "Account",
    MappingKind.PAYMENT_METHOD: "PaymentMethod",
    MappingKind.DEPOSIT_ACCOUNT: "Account",
}
ACCOUNT_TYPES_FOR_KIND = {
    MappingKind.INCOME_ACCOUNT: ("Income", "Other Income"),
    MappingKind.DEPOSIT_ACCOUNT: ("Bank", "Other Current Asset"),
}
ENTITIES = ("Item", "TaxCode", "Account", "PaymentMethod")
# US line-level pseudo codes (QBO-REFERENCE §5.1): never a transaction's sales tax code.
US_LINE_CODES = ("TAX", "NON")
# Failed pushes a mapping change can unblock: refused before any call because a mapping was missing, or
# refused by QuickBooks because something referenced no longer exists or is inactive (610).
MAPPING_ERROR_CODES = ("mapping_incomplete", "610")


@dataclass
class RefreshReport:
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)


def _detail(entity: str, row: dict) -> str:
    if entity == "Item":
        return str(row.get("Type", ""))
    if entity == "Account":
        return str(row.get("AccountType", ""))
    return ""


def choices_refresh(*, connection: QuickBooksConnection) -> RefreshReport:
    """Read Items, TaxCodes, Accounts and PaymentMethods (active and inactive) from QuickBooks and replace the
    cache of this connection's realm. A list QuickBooks will not give us is left as it was and reported.

    https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries
    """
    from integrations.services.api import client_for

    client = client_for(connection)
    report = RefreshReport()
    now = timezone.now()
    read: dict[str, list[QuickBooksChoice]] = {}
    for entity in ENTITIES:
        rows: dict[str, QuickBooksChoice] = {}
        try:
            for active in (True, False):
                for row in client.query(select_statement(entity, Active=active), entity=entity):
                    name = str(row.get("Name") or row.get("FullyQualifiedName") or row.get("Id"))
                    rows[str(row["Id"])] = QuickBooksChoice(
                        connection=connection,
                        realm_id=connection.realm_id,
                        entity=entity,
                        qbo_id=str(row["Id"]),
                        name=name[:200],
                        name_key=name.lower()[:200],
                        active=bool(row.get("Active", active)),
                        detail=_detail(entity, row)[:100],
                        fetched_at=now,
                    )
        except QuickBooksError as exc:
            if (exc.status or 0) in (401, 403) or (exc.status or 0) >= 500:
                raise  # the connection or QuickBooks is in trouble, not this one list
            logger.info("qbo.mappings.refresh.unavailable entity=%s code=%s", entity, exc.code)
            report.unavailable.append(entity)
            continue
        read[entity] = list(rows.values())
        report.counts[entity] = len(rows)
    with transaction.atomic():
        for entity, rows in read.items():
            QuickBooksChoice.objects.filter(connection=connection, realm_id=connection.realm_id, entity=entity).delete()
            QuickBooksChoice.objects.bulk_create(rows, batch_size=500)
    logger.info("qbo.mappings.refreshed company=%s counts=%s", connection.company_id, report.counts)
    return report


def choice_check(*, connection: QuickBooksConnection, kind: str, qbo_id: str) -> QuickBooksChoice:
    """The cached QuickBooks entry a mapping of `kind` may point to, or a ValidationError saying why not."""
    entity = ENTITY_FOR_KIND[kind]
    choice = QuickBooksChoice.objects.filter(
        connection=connection, realm_id=connection.realm_id, entity=entity, qbo_id=str(qbo_id)
    ).first()
    if choice is None:
        raise ValidationError(
            f"QuickBooks has no {entity} with id {qbo_id} (it may have been deleted). "
            "Refresh from QuickBooks and pick another."
        )
    if not choice.active:
        raise ValidationError(f"“{choice.name}” is inactive in QuickBooks. Reactivate it there, or pick another.")
    if kind == MappingKind.SALES_TAX_CODE and choice.qbo_id in US_LINE_CODES:
        raise ValidationError(
            f"“{choice.name}” only marks a line taxable or not; pick the sales tax code whose rate applies."
        )
    allowed = ACCOUNT_TYPES_FOR_KIND.get(kind)
    if allowed and choice.detail not in allowed:
        raise ValidationError(f"“{choice.name}” is a {choice.detail} account; pick one of type {' or '.join(allowed)}.")
    return choice


def _local_key_ok(*, company, kind: str, local_key: str) -> bool:
    if local_key == DEFAULT_KEY:
        return kind in (MappingKind.ITEM, MappingKind.TAX_CODE, MappingKind.INCOME_ACCOUNT, MappingKind.DEPOSIT_ACCOUNT)
    if not local_key.isdigit() and kind != MappingKind.PAYMENT_METHOD:
        return False
    if kind == MappingKind.ITEM:
        return Product.objects.filter(company=company, pk=local_key).exists()
    if kind == MappingKind.TAX_CODE:
        return TaxRate.objects.filter(company=company, pk=local_key).exists()
    if kind == MappingKind.SALES_TAX_CODE:
        return TaxRate.objects.filter(company=company, pk=local_key, taxable=True).exists()
    if kind == MappingKind.PAYMENT_METHOD:
        return local_key in PaymentMethod.values
    return False


@dataclass(frozen=True)
class MappingChange:
    kind: str
    local_key: str
    qbo_id: str  # "" clears the mapping


@dataclass
class SaveReport:
    saved: int = 0
    cleared: int = 0
    unblocked: int = 0


def mappings_save(*, connection: QuickBooksConnection, changes: list[MappingChange], user) -> SaveReport:
    """Save mapping changes from the page, all or nothing: each is checked (our object belongs to the company,
    the QuickBooks entry is cached, active and of the right type) before any is written. Saving confirms a
    suggestion."""
    from integrations.services.mappings import mapping_set

    company = connection.company
    checked: list[tuple[MappingChange, QuickBooksChoice | None]] = []
    errors: list[str] = []
    for change in changes:
        if change.kind not in ENTITY_FOR_KIND or not _local_key_ok(
            company=company, kind=change.kind, local_key=change.local_key
        ):
            errors.append(f"Unknown {change.kind.replace('_', ' ')} “{change.local_key}” for {company.name}.")
            continue
        if not change.qbo_id:
            checked.append((change, None))
            continue
        try:
            checked.append((change, choice_check(connection=connection, kind=change.kind, qbo_id=change.qbo_id)))
        except ValidationError as error:
            errors.append(error.message)
    if errors:
        raise ValidationError(" ".join(errors))
    report = SaveReport()
    now = timezone.now()
    with transaction.atomic():
        for change, choice in checked:
            existing = QuickBooksMapping.objects.filter(
                company=company, realm_id=connection.realm_id, kind=change.kind, local_key=change.local_key
            )
            if choice is None:
                report.cleared += existing.delete()[0]
                continue
            mapping = mapping_set(
                company=company,
                realm_id=connection.realm_id,
                kind=change.kind,
                local_key=change.local_key,
                qbo_id=choice.qbo_id,
                qbo_name=choice.name,
            )
            if mapping.confirmed_at is None:
                QuickBooksMapping.objects.filter(pk=mapping.pk).update(confirmed_at=now)
            report.saved += 1
    report.unblocked = blocked_by_mappings(connection=connection).count()
    logger.info(
        "qbo.mappings.saved company=%s saved=%s cleared=%s user=%s",
        company.pk,
        report.saved,
        report.cleared,
        getattr(user, "pk", None),
    )
    return report


def blocked_by_mappings(*, connection: QuickBooksConnection):
    """Failed or dead pushes to this realm that a mapping problem stopped, with no newer entry for the same
    invoice: what "Retry them" after a mapping change sends again."""
    from django.db.models import Exists, OuterRef

    newer = QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        entity_type=OuterRef("entity_type"),
        object_id=OuterRef("object_id"),
        created_at__gt=OuterRef("created_at"),
    )
    return (
        QuickBooksSyncLog.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_id,
            status__in=[SyncStatus.FAILED, SyncStatus.DEAD],
            error_code__in=MAPPING_ERROR_CODES,
        )
        .exclude(Exists(newer))
        .order_by("-created_at")
    )


def item_create(*, connection: QuickBooksConnection, name: str, income_account_id: str, user) -> QuickBooksChoice:
    """Create a Service Item in QuickBooks (Name, Type, IncomeAccountRef) and add it to the cache.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/item
    """
    from integrations.services.api import client_for

    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the new QuickBooks item a name.")
    if ":" in name or len(name) > 100:
        raise ValidationError("QuickBooks item names have at most 100 characters and no “:”.")
    account = choice_check(connection=connection, kind=MappingKind.INCOME_ACCOUNT, qbo_id=income_account_id)
    taken = QuickBooksChoice.objects.filter(
        connection=connection, realm_id=connection.realm_id, entity="Item", name_key=name.lower()
    ).first()
    if taken is not None:
        raise ValidationError(f"QuickBooks already has an item named “{taken.name}”; pick it instead.")
    payload = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": account.qbo_id, "name": account.name}}
    digest = hashlib.sha256(f"{connection.realm_id}:{name.lower()}:{account.qbo_id}".encode()).hexdigest()[:16]
    try:
        created = client_for(connection).create("Item", payload, request_id=f"aqitem{connection.pk}-{digest}")
    except QuickBooksError as exc:
        raise ValidationError(f"QuickBooks did not create the item: {exc.detail or exc.message}") from exc
    choice, _ = QuickBooksChoice.objects.update_or_create(
        connection=connection,
        realm_id=connection.realm_id,
        entity="Item",
        qbo_id=str(created["Id"]),
        defaults={
            "name": str(created.get("Name", name))[:200],
            "name_key": str(created.get("Name", name)).lower()[:200],
            "active": bool(created.get("Active", True)),
            "detail": str(created.get("Type", "Service")),
            "fetched_at": timezone.now(),
        },
    )
    logger.info("qbo.mappings.item_created company=%s qbo_id=%s", connection.company_id, choice.qbo_id)
    return choice
