"""Mappings of our products and tax rates to QuickBooks Items and TaxCodes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from attune_qbo.billing.models import Product, TaxRate
from integrations.models import DEFAULT_KEY, MappingKind, QuickBooksConnection, QuickBooksMapping
from integrations.quickbooks.client import select_statement
from integrations.quickbooks.constants import US_TAX_CODE_NON, US_TAX_CODE_TAX

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
    tax_rates_mapped: int = 0


DEFAULT_ITEM_NAMES = ("services", "service", "sales")


def mappings_suggest_by_name(*, connection: QuickBooksConnection) -> SuggestionReport:
    """Map products to QuickBooks Items with the same name (case-insensitive) and, if no default Item is set,
    pick one named "Services" (Intuit's sample companies have it). Never overwrites a mapping."""
    from integrations.services.api import client_for

    connection = QuickBooksConnection.objects.get(pk=connection.pk)  # with the profile read just now
    report = SuggestionReport()
    client = client_for(connection)
    items = list(client.query(select_statement("Item", Active=True), entity="Item"))
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
    report.tax_rates_mapped = _suggest_tax_codes(connection, client)
    logger.info(
        "qbo.mappings.suggested company=%s items=%s default=%s tax_rates=%s",
        connection.company_id,
        report.items_mapped,
        report.default_item,
        report.tax_rates_mapped,
    )
    return report


def tax_code_rates(client) -> dict[str, tuple[str, Decimal]]:
    """Active QuickBooks tax codes (not the US line codes TAX/NON) → (name, combined sales rate in percent)."""
    rates = {
        str(rate["Id"]): Decimal(str(rate.get("RateValue", 0)))
        for rate in client.query(select_statement("TaxRate"), entity="TaxRate")
    }
    codes = {}
    for code in client.query(select_statement("TaxCode", Active=True), entity="TaxCode"):
        if code.get("Id") in (US_TAX_CODE_TAX, US_TAX_CODE_NON):
            continue
        details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
        total = sum((rates.get(str(d.get("TaxRateRef", {}).get("value")), Decimal(0)) for d in details), Decimal(0))
        codes[str(code["Id"])] = (code.get("Name", ""), total)
    return codes


def _suggest_tax_codes(connection: QuickBooksConnection, client) -> int:
    """Map each of our tax rates without a mapping to the one QuickBooks tax code with the same rate (US: the
    sales tax code of a taxable rate; elsewhere the per-line code). Ambiguous or missing matches stay unmapped
    for a person to choose."""
    kind = MappingKind.SALES_TAX_CODE if connection.tax_style != "global" else MappingKind.TAX_CODE
    mapped = set(
        QuickBooksMapping.objects.filter(
            company_id=connection.company_id, realm_id=connection.realm_id, kind=kind
        ).values_list("local_key", flat=True)
    )
    rates = TaxRate.objects.filter(company_id=connection.company_id).exclude(
        pk__in=[int(k) for k in mapped if k.isdigit()]
    )
    if kind == MappingKind.SALES_TAX_CODE:
        rates = rates.filter(taxable=True, percent__gt=0)
    if not rates:
        return 0
    codes = tax_code_rates(client)
    made = 0
    for rate in rates:
        percent = rate.percent if rate.taxable else Decimal(0)
        matches = [(code_id, name) for code_id, (name, total) in codes.items() if total == percent]
        if len(matches) > 1:  # several codes at this rate: one with the same name, or none
            matches = [
                (code_id, name) for code_id, name in matches if name.strip().lower() == rate.name.strip().lower()
            ]
        if len(matches) == 1:
            code_id, name = matches[0]
            QuickBooksMapping.objects.create(
                company_id=connection.company_id,
                realm_id=connection.realm_id,
                kind=kind,
                local_key=str(rate.pk),
                qbo_id=code_id,
                qbo_name=name,
            )
            made += 1
    return made
