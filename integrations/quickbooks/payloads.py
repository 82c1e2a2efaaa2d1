"""Typed payloads for QuickBooks entities, one builder per entity (QBO-REFERENCE §2.3, §5; field names from
Intuit's XSD: Customer, Invoice, Line/SalesItemLineDetail, ReferenceType).

Builders are pure: they take our objects and already-resolved QuickBooks ids, and return what the client
sends. Which tax style applies (US `TAX`/`NON` vs. a TaxCode id per line) comes from the connection's
profile, read from Preferences/CompanyInfo at connect time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NotRequired, TypedDict

from integrations.quickbooks.constants import (
    CUSTOMER_NAME_MAX_LENGTH,
    DOC_NUMBER_MAX_LENGTH,
    MEMO_MAX_LENGTH,
    US_TAX_CODE_NON,
    US_TAX_CODE_TAX,
)


class Ref(TypedDict):
    value: str
    name: NotRequired[str]


class EmailAddress(TypedDict):
    Address: str


class PhysicalAddress(TypedDict, total=False):
    Line1: str
    Line2: str
    City: str
    CountrySubDivisionCode: str
    PostalCode: str
    Country: str


class CustomerPayload(TypedDict, total=False):
    DisplayName: str
    CompanyName: str
    PrimaryEmailAddr: EmailAddress
    BillAddr: PhysicalAddress
    CurrencyRef: Ref


class SalesItemLineDetail(TypedDict, total=False):
    ItemRef: Ref
    Qty: float
    UnitPrice: float
    TaxCodeRef: Ref


class SalesLine(TypedDict):
    DetailType: str
    Amount: float
    Description: NotRequired[str]
    SalesItemLineDetail: SalesItemLineDetail


class InvoicePayload(TypedDict, total=False):
    DocNumber: str
    TxnDate: str
    DueDate: str
    CustomerRef: Ref
    Line: list[SalesLine]
    PrivateNote: str
    CustomerMemo: dict
    CurrencyRef: Ref
    GlobalTaxCalculation: str
    TxnTaxDetail: dict


@dataclass(frozen=True)
class CompanyProfile:
    """What kind of QuickBooks company we are writing to."""

    tax_style: str  # "us" | "global"
    home_currency: str
    multicurrency_enabled: bool

    @property
    def is_us(self) -> bool:
        return self.tax_style != "global"


@dataclass(frozen=True)
class ResolvedLine:
    """An invoice line with its QuickBooks ids already chosen (from the mappings)."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    item_id: str
    taxable: bool
    tax_code_id: str | None  # non-US: the mapped TaxCode id; US: unused (TAX/NON)


MARKER_PATTERN = re.compile(r"\[attune:(\d+):(\d+)\]")


def ours_marker(company_id: int, invoice_id: int) -> str:
    """Written into PrivateNote, so an invoice found by DocNumber can be recognised as ours."""
    return f"[attune:{company_id}:{invoice_id}]"


def is_ours(private_note: str | None, company_id: int, invoice_id: int) -> bool:
    return ours_marker(company_id, invoice_id) in (private_note or "")


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def customer_payload(client, profile: CompanyProfile) -> CustomerPayload:
    payload: CustomerPayload = {"DisplayName": client.display_name[:CUSTOMER_NAME_MAX_LENGTH]}
    if client.email:
        payload["PrimaryEmailAddr"] = {"Address": client.email}
    address: PhysicalAddress = {}
    for source, target in (
        ("address_line1", "Line1"),
        ("address_line2", "Line2"),
        ("city", "City"),
        ("region", "CountrySubDivisionCode"),
        ("postal_code", "PostalCode"),
        ("country", "Country"),
    ):
        if getattr(client, source):
            address[target] = getattr(client, source)
    if address:
        payload["BillAddr"] = address
    if profile.multicurrency_enabled and client.currency:
        payload["CurrencyRef"] = {"value": client.currency}  # settable on create only (§2.3)
    return payload


def invoice_payload(invoice, *, customer_id: str, lines: list[ResolvedLine], profile: CompanyProfile) -> InvoicePayload:
    sales_lines: list[SalesLine] = []
    for line in lines:
        detail: SalesItemLineDetail = {
            "ItemRef": {"value": line.item_id},
            "Qty": _number(line.quantity),
            "UnitPrice": _number(line.unit_price),
        }
        if profile.is_us:
            detail["TaxCodeRef"] = {"value": US_TAX_CODE_TAX if line.taxable else US_TAX_CODE_NON}
        else:
            detail["TaxCodeRef"] = {"value": line.tax_code_id or ""}
        sales_line: SalesLine = {
            "DetailType": "SalesItemLineDetail",
            "Amount": _number(line.amount),
            "SalesItemLineDetail": detail,
        }
        if line.description:
            sales_line["Description"] = line.description[:4000]
        sales_lines.append(sales_line)
    payload: InvoicePayload = {
        "DocNumber": invoice.number[:DOC_NUMBER_MAX_LENGTH],
        "TxnDate": invoice.issue_date.isoformat(),
        "DueDate": invoice.due_date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "Line": sales_lines,
        "PrivateNote": f"Sent by attune. {ours_marker(invoice.company_id, invoice.pk)}",
    }
    if invoice.memo:
        payload["CustomerMemo"] = {"value": invoice.memo[:MEMO_MAX_LENGTH]}
    if not profile.is_us:
        payload["GlobalTaxCalculation"] = "TaxExcluded"  # our prices are net of tax
    if profile.multicurrency_enabled:
        payload["CurrencyRef"] = {"value": invoice.currency}
    return payload


def payload_hash(payload) -> str:
    """A stable fingerprint of what we send: an unchanged hash means QuickBooks already has it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
