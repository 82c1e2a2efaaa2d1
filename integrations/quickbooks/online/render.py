"""The QuickBooks Online renderer: typed payloads (QBO JSON) from the books document, one renderer per entity
(QBO-REFERENCE §2.3, §5; field names from Intuit's XSD: Customer, Invoice, Line/SalesItemLineDetail, Payment,
ReferenceType).

Renderers are pure: they read a `BooksCustomer` / `BooksInvoice` / `BooksPayment` whose QuickBooks ids are
already resolved (`integrations/books/preflight.py`) and return what the client sends; they never read our models
or the mappings. Which tax style applies (US `TAX`/`NON` vs. a TaxCode id per line) comes from the connection's
profile, read from Preferences/CompanyInfo at connect time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import NotRequired, TypedDict

from integrations.books.document import (  # noqa: F401  (the markers are part of the Online payloads' API)
    MARKER_PATTERN,
    Address,
    BooksCustomer,
    BooksInvoice,
    BooksPayment,
    ours_marker,
    payment_marker,
)
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
CUSTOMER_MANAGED_FIELDS = frozenset({"DisplayName", "PrimaryEmailAddr", "BillAddr"})  # what render_customer sends
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


def is_ours(private_note: str | None, company_id: int, invoice_id: int) -> bool:
    return ours_marker(company_id, invoice_id) in (private_note or "")


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def billing_address(address: Address) -> PhysicalAddress:
    physical: PhysicalAddress = {}
    for value, target in (
        (address.line1, "Line1"),
        (address.line2, "Line2"),
        (address.city, "City"),
        (address.region, "CountrySubDivisionCode"),
        (address.postal_code, "PostalCode"),
        (address.country, "Country"),
    ):
        if value:
            physical[target] = value
    return physical


def render_customer(customer: BooksCustomer, profile: CompanyProfile) -> CustomerPayload:
    """https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer"""
    payload: CustomerPayload = {"DisplayName": customer.display_name[:CUSTOMER_NAME_MAX_LENGTH]}
    if customer.email:
        payload["PrimaryEmailAddr"] = {"Address": customer.email}
    address = billing_address(customer.bill_address)
    if address:
        payload["BillAddr"] = address
    if profile.multicurrency_enabled and customer.currency:
        payload["CurrencyRef"] = {"value": customer.currency}  # settable on create only (§2.3)
    return payload


def render_invoice(invoice: BooksInvoice, profile: CompanyProfile) -> InvoicePayload:
    """The whole invoice as we hold it. Fields we have no value for are left out (a full update then clears
    them in QuickBooks). https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice"""
    sales_lines: list[SalesLine] = []
    for line in invoice.lines:
        detail: SalesItemLineDetail = {
            "ItemRef": {"value": line.item.id},
            "Qty": _number(line.quantity),
            "UnitPrice": _number(line.rate),
        }
        if profile.is_us:
            detail["TaxCodeRef"] = {"value": US_TAX_CODE_TAX if line.taxable else US_TAX_CODE_NON}
        else:
            detail["TaxCodeRef"] = {"value": (line.tax_code.id if line.tax_code else "") or ""}
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
        "TxnDate": invoice.txn_date.isoformat(),
        "DueDate": invoice.due_date.isoformat(),
        "CustomerRef": {"value": invoice.customer.id},
        "Line": sales_lines,
        "PrivateNote": f"Sent by attune. {invoice.marker}",
    }
    if invoice.memo:
        payload["CustomerMemo"] = {"value": invoice.memo[:MEMO_MAX_LENGTH]}
    if invoice.bill_email:
        payload["BillEmail"] = {"Address": invoice.bill_email}
    address = billing_address(invoice.bill_address)
    if address:
        payload["BillAddr"] = address  # AST computes tax from it (QBO-REFERENCE §5.1)
    if invoice.txn_tax_code is not None and invoice.txn_tax_code.id:
        payload["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": invoice.txn_tax_code.id}}
    elif invoice.sent_tax_total is not None:
        payload["TxnTaxDetail"] = {"TotalTax": _number(invoice.sent_tax_total)}
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


def render_payment(payment: BooksPayment) -> PaymentPayload:
    """A Payment applied to one invoice. No DepositToAccountRef = Undeposited Funds (QuickBooks' default).
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment"""
    amount = _number(payment.amount)
    body: PaymentPayload = {
        "CustomerRef": {"value": payment.customer.id},
        "TotalAmt": amount,
        "TxnDate": payment.txn_date.isoformat(),
        "PrivateNote": payment.marker,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": payment.invoice_ref.id, "TxnType": "Invoice"}]}],
    }
    reference = (payment.reference or "").strip()
    if reference:
        body["PaymentRefNum"] = reference[:PAYMENT_REF_NUM_MAX_LENGTH]
    if payment.method_ref.id:
        body["PaymentMethodRef"] = {"value": payment.method_ref.id}
    if payment.deposit_account.id:
        body["DepositToAccountRef"] = {"value": payment.deposit_account.id}
    if payment.currency:
        body["CurrencyRef"] = {"value": payment.currency}
    return body
