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


class TxnTaxDetail(TypedDict, total=False):
    TxnTaxCodeRef: Ref  # US manual sales tax: the one tax code of the invoice
    TotalTax: float  # US Automated Sales Tax: our tax, which QuickBooks honours instead of its own


class InvoicePayload(TypedDict, total=False):
    DocNumber: str
    TxnDate: str
    DueDate: str
    CustomerRef: Ref
    Line: list[SalesLine]
    PrivateNote: str
    CustomerMemo: dict
    BillEmail: EmailAddress
    BillAddr: PhysicalAddress
    CurrencyRef: Ref
    ExchangeRate: float
    GlobalTaxCalculation: str
    TxnTaxDetail: TxnTaxDetail


# The fields our payloads set. In a full update these come from us alone: one we leave out is cleared.
INVOICE_MANAGED_FIELDS = frozenset(InvoicePayload.__annotations__)
CUSTOMER_MANAGED_FIELDS = frozenset({"DisplayName", "PrimaryEmailAddr", "BillAddr"})  # what customer_payload sends
# Address objects: a part QuickBooks has that we no longer send must be cleared. Only these parts count:
# QuickBooks adds others itself (Id, Lat/Long of a geocoded address, Note, Tag, CountryCode).
ADDRESS_FIELDS = frozenset({"BillAddr", "ShipAddr"})
ADDRESS_PARTS = frozenset(
    {"Line1", "Line2", "Line3", "Line4", "Line5", "City", "CountrySubDivisionCode", "PostalCode", "Country"}
)
# Ours to send, but QuickBooks fills in more of them than we send (tax lines, totals): never "cleared" by us.
COMPUTED_PARTS = frozenset({"TxnTaxDetail", "CurrencyRef", "ExchangeRate", "GlobalTaxCalculation"})
# What a full update keeps from the current QuickBooks object besides our own fields: the writable fields others
# may have set there (Intuit's XSD, Finance.xsd: Invoice / Customer). Everything else is left out — read-only or
# computed fields (TotalAmt, Balance, MetaData, InvoiceLink, RecurDataRef…), internal ones, and DeliveryInfo,
# which breaks updates when round-tripped (QBO-REFERENCE §2.4).
INVOICE_KEPT_FIELDS = frozenset(
    {
        "ClassRef",
        "DepartmentRef",
        "SalesTermRef",
        "ShipAddr",
        "ShipFromAddr",
        "ShipDate",
        "ShipMethodRef",
        "TrackingNum",
        "CustomField",
        "BillEmailCc",
        "BillEmailBcc",
        "AllowOnlinePayment",
        "AllowOnlineCreditCardPayment",
        "AllowOnlineACHPayment",
        "ApplyTaxAfterDiscount",
        "PrintStatus",
        "EmailStatus",
        "LinkedTxn",
        "ProjectRef",
        "TransactionLocationType",
        "TaxExemptionRef",
        "ARAccountRef",
        "DepositToAccountRef",
        "Deposit",
    }
)
CUSTOMER_KEPT_FIELDS = frozenset(
    {
        "Title",
        "GivenName",
        "MiddleName",
        "FamilyName",
        "Suffix",
        "CompanyName",
        "PrintOnCheckName",
        "PrimaryPhone",
        "AlternatePhone",
        "Mobile",
        "Fax",
        "WebAddr",
        "OtherContactInfo",
        "ShipAddr",
        "Notes",
        "Active",
        "Job",
        "BillWithParent",
        "ParentRef",
        "Taxable",
        "TaxExemptionReasonId",
        "DefaultTaxCodeRef",
        "SalesTermRef",
        "PaymentMethodRef",
        "PreferredDeliveryMethod",
        "ResaleNum",
        "CustomerTypeRef",
        "ARAccountRef",
        "CurrencyRef",
        "GSTIN",
        "GSTRegistrationType",
        "BusinessNumber",
    }
)


@dataclass(frozen=True)
class CompanyProfile:
    """What kind of QuickBooks company we are writing to."""

    tax_style: str  # "us" | "global"
    home_currency: str
    multicurrency_enabled: bool
    sales_tax_mode: str = ""  # US: "manual" | "ast" | "off" ("" until Preferences were read: treated as manual)

    @property
    def is_us(self) -> bool:
        return self.tax_style != "global"

    @property
    def automated_sales_tax(self) -> bool:
        return self.is_us and self.sales_tax_mode == "ast"


@dataclass(frozen=True)
class InvoiceTax:
    """How the invoice's tax reaches QuickBooks. US manual: the transaction tax code; US AST: our total tax."""

    txn_tax_code_id: str | None = None
    total_tax: Decimal | None = None


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


def billing_address(client) -> PhysicalAddress:
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
    return address


def customer_payload(client, profile: CompanyProfile) -> CustomerPayload:
    payload: CustomerPayload = {"DisplayName": client.display_name[:CUSTOMER_NAME_MAX_LENGTH]}
    if client.email:
        payload["PrimaryEmailAddr"] = {"Address": client.email}
    address = billing_address(client)
    if address:
        payload["BillAddr"] = address
    if profile.multicurrency_enabled and client.currency:
        payload["CurrencyRef"] = {"value": client.currency}  # settable on create only (§2.3)
    return payload


def invoice_payload(
    invoice,
    *,
    customer_id: str,
    lines: list[ResolvedLine],
    profile: CompanyProfile,
    tax: InvoiceTax | None = None,
) -> InvoicePayload:
    """The whole invoice as we hold it. Fields we have no value for are left out (a full update then clears
    them in QuickBooks). https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice"""
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
    client = invoice.client
    if client.email:
        payload["BillEmail"] = {"Address": client.email}
    address = billing_address(client)
    if address:
        payload["BillAddr"] = address  # AST computes tax from it (QBO-REFERENCE §5.1)
    tax = tax or InvoiceTax()
    if tax.txn_tax_code_id:
        payload["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": tax.txn_tax_code_id}}
    elif tax.total_tax is not None:
        payload["TxnTaxDetail"] = {"TotalTax": _number(tax.total_tax)}
    if not profile.is_us:
        payload["GlobalTaxCalculation"] = "TaxExcluded"  # our prices are net of tax
    if profile.multicurrency_enabled:
        payload["CurrencyRef"] = {"value": invoice.currency}
        if invoice.currency != profile.home_currency and invoice.exchange_rate:
            payload["ExchangeRate"] = _number(invoice.exchange_rate)
    return payload


def clears_something(payload: dict, current: dict, managed: frozenset[str]) -> bool:
    """Whether sending `payload` must remove something QuickBooks holds now: a field we manage that QuickBooks
    has and we no longer send, or a part of an address we no longer send. A sparse update cannot clear
    (QBO-REFERENCE §2.4), so such a change goes as a full update."""
    for name in managed - COMPUTED_PARTS:
        theirs, ours = current.get(name), payload.get(name)
        if theirs in (None, "", {}, []):
            continue
        if ours in (None, "", {}, []):
            return True
        if name in ADDRESS_FIELDS and isinstance(theirs, dict) and isinstance(ours, dict):
            if any(theirs.get(part) not in (None, "") and part not in ours for part in ADDRESS_PARTS):
                return True
    return False


def full_update_body(payload: dict, current: dict, kept_fields: frozenset[str]) -> dict:
    """A full update built from the whole current QuickBooks object: the writable fields others set there
    (`kept_fields`: classes, terms, ship address…) stay, every field we manage is ours (left out = cleared), and
    nothing read-only or empty is sent back."""
    kept = {
        name: value
        for name, value in current.items()
        if name in kept_fields and name not in payload and value not in (None, "", {}, [])
    }
    return {**kept, **payload, "Id": current["Id"], "SyncToken": current["SyncToken"]}


def payload_hash(payload) -> str:
    """A stable fingerprint of what we send: an unchanged hash means QuickBooks already has it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- payments (https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment) ---------

PAYMENT_REF_NUM_MAX_LENGTH = 21


class LinkedTxn(TypedDict):
    TxnId: str
    TxnType: str


class PaymentLine(TypedDict):
    Amount: float | int
    LinkedTxn: list[LinkedTxn]


class PaymentPayload(TypedDict, total=False):
    CustomerRef: Ref
    TotalAmt: float | int
    TxnDate: str
    PaymentRefNum: str
    PaymentMethodRef: Ref
    DepositToAccountRef: Ref
    CurrencyRef: Ref
    PrivateNote: str
    Line: list[PaymentLine]


def payment_marker(company_id: int, payment_id: int) -> str:
    """Written into a pushed Payment's PrivateNote: a webhook for it is recognised as ours even before its link
    is saved (the push's answer still in flight, or lost)."""
    return f"[attune:{company_id}:p{payment_id}]"


def payment_payload(
    payment,
    *,
    customer_id: str,
    invoice_qbo_id: str,
    method_id: str | None = None,
    deposit_account_id: str | None = None,
    currency: str | None = None,
) -> PaymentPayload:
    """A Payment applied to one invoice. No DepositToAccountRef = Undeposited Funds (QuickBooks' default)."""
    amount = _number(payment.amount)
    body: PaymentPayload = {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": amount,
        "TxnDate": payment.date.isoformat(),
        "PrivateNote": payment_marker(payment.company_id, payment.pk),
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_qbo_id, "TxnType": "Invoice"}]}],
    }
    reference = (payment.reference or "").strip()
    if reference:
        body["PaymentRefNum"] = reference[:PAYMENT_REF_NUM_MAX_LENGTH]
    if method_id:
        body["PaymentMethodRef"] = {"value": method_id}
    if deposit_account_id:
        body["DepositToAccountRef"] = {"value": deposit_account_id}
    if currency:
        body["CurrencyRef"] = {"value": currency}
    return body
