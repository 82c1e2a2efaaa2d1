"""Mappings of our products and tax rates to QuickBooks Items and TaxCodes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from attune_qbo.billing.models import Product, TaxRate
from integrations.models import DEFAULT_KEY, MappingKind, QuickBooksConnection, QuickBooksMapping
from integrations.quickbooks.client import select_statement

logger = logging.getLogger("qbo.mappings")


@dataclass(frozen=True)
class MappingTable:
    """All of a company's mappings in one realm, read with one query."""

    items: dict[str, str]
    tax_codes: dict[str, str]
    sales_tax_codes: dict[str, str]

    def item_for(self, product_id: int | None) -> str | None:
        if product_id is not None and str(product_id) in self.items:
            return self.items[str(product_id)]
        return self.items.get(DEFAULT_KEY)

    def tax_code_for(self, tax_rate_id: int | None) -> str | None:
        if tax_rate_id is not None and str(tax_rate_id) in self.tax_codes:
            return self.tax_codes[str(tax_rate_id)]
        return self.tax_codes.get(DEFAULT_KEY)

    def sales_tax_code_for(self, tax_rate_id: int) -> str | None:
        """US: the transaction-level TaxCode (TxnTaxCodeRef) of one of our taxable rates; no default."""
        return self.sales_tax_codes.get(str(tax_rate_id))


def mapping_table(*, company_id: int, realm_id: str) -> MappingTable:
    tables: dict[str, dict[str, str]] = {MappingKind.ITEM: {}, MappingKind.TAX_CODE: {}, MappingKind.SALES_TAX_CODE: {}}
    for kind, key, qbo_id in QuickBooksMapping.objects.filter(company_id=company_id, realm_id=realm_id).values_list(
        "kind", "local_key", "qbo_id"
    ):
        if kind in tables:
            tables[kind][key] = qbo_id
    return MappingTable(
        items=tables[MappingKind.ITEM],
        tax_codes=tables[MappingKind.TAX_CODE],
        sales_tax_codes=tables[MappingKind.SALES_TAX_CODE],
    )


def mapping_set(
    *, company, realm_id: str, kind: str, local_key: str, qbo_id: str, qbo_name: str = ""
) -> QuickBooksMapping:
    """Create or change one mapping in one realm. `local_key` is a product or tax rate id of `company`, or
    "default" (not for US sales tax codes: each taxable rate names its own)."""
    from attune_qbo.core.exceptions import ValidationError

    if not realm_id:
        raise ValidationError("Connect QuickBooks first: mappings belong to one QuickBooks company.")
    if kind not in MappingKind.values:
        raise ValidationError(f"Unknown mapping kind “{kind}”.")
    if kind == MappingKind.SALES_TAX_CODE and local_key == DEFAULT_KEY:
        raise ValidationError("A US sales tax code is mapped per tax rate; there is no default.")
    if local_key != DEFAULT_KEY:
        model = Product if kind == MappingKind.ITEM else TaxRate if kind != MappingKind.INCOME_ACCOUNT else None
        if model is not None and not model.objects.filter(company=company, pk=local_key).exists():
            raise ValidationError(f"No {model._meta.verbose_name} with id {local_key} in {company.name}.")
    if not str(qbo_id).strip():
        raise ValidationError("A mapping needs the QuickBooks id.")
    mapping, _ = QuickBooksMapping.objects.update_or_create(
        company=company,
        realm_id=realm_id,
        kind=kind,
        local_key=str(local_key),
        defaults={"qbo_id": str(qbo_id).strip(), "qbo_name": qbo_name},
    )
    return mapping


@dataclass
class SuggestionReport:
    items_mapped: int = 0
    default_item: str = ""


DEFAULT_ITEM_NAMES = ("services", "service", "sales")


def mappings_suggest_by_name(*, connection: QuickBooksConnection) -> SuggestionReport:
    """Map products to QuickBooks Items with the same name (case-insensitive) and, if no default Item is set,
    pick one named "Services" (Intuit's sample companies have it). Never overwrites a mapping."""
    from integrations.services.api import client_for

    report = SuggestionReport()
    items = list(client_for(connection).query(select_statement("Item", Active=True), entity="Item"))
    by_name = {item.get("Name", "").strip().lower(): item for item in items}
    existing = set(
        QuickBooksMapping.objects.filter(
            company_id=connection.company_id, realm_id=connection.realm_id, kind=MappingKind.ITEM
        ).values_list("local_key", flat=True)
    )
    with transaction.atomic():
        for product in Product.objects.filter(company_id=connection.company_id):
            item = by_name.get(product.name.strip().lower())
            if item and str(product.pk) not in existing:
                QuickBooksMapping.objects.create(
                    company_id=connection.company_id,
                    realm_id=connection.realm_id,
                    kind=MappingKind.ITEM,
                    local_key=str(product.pk),
                    qbo_id=item["Id"],
                    qbo_name=item["Name"],
                )
                report.items_mapped += 1
        if DEFAULT_KEY not in existing:
            default = next((by_name[name] for name in DEFAULT_ITEM_NAMES if name in by_name), None)
            if default:
                QuickBooksMapping.objects.create(
                    company_id=connection.company_id,
                    realm_id=connection.realm_id,
                    kind=MappingKind.ITEM,
                    local_key=DEFAULT_KEY,
                    qbo_id=default["Id"],
                    qbo_name=default["Name"],
                )
                report.default_item = default["Name"]
    logger.info(
        "qbo.mappings.suggested company=%s items=%s default=%s",
        connection.company_id,
        report.items_mapped,
        report.default_item,
    )
    return report
