"""qbXML requests, rendered from the neutral books document (`integrations.books.document`; no Django here).

Element order follows the qbXML schema (the OSR's `InvoiceAdd`, `CustomerAdd`, … sequences): QuickBooks refuses a
message whose elements are out of order with 0x80040400 "error when parsing the provided XML". Text is escaped
by ElementTree; characters outside ASCII are written as numeric character references and control characters that
XML 1.0 cannot carry are dropped (QBO-REFERENCE §6.3). Names arrive as the books document's leaf names (one line,
no ':'); references go by FullName, which Desktop resolves (ListIDs stay on the links).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from xml.etree import ElementTree as ET

from integrations.books.document import Address, BooksCustomer, BooksInvoice, BooksLine, BooksPayment
from integrations.books.document import clean_name as books_clean_name
from integrations.quickbooks.desktop import constants as c

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_WHITESPACE = re.compile(r"\s+")


def clean_text(value: str, limit: int | None = None) -> str:
    """Text XML 1.0 can carry, cut to QuickBooks' field length."""
    value = _NOT_XML.sub("", value or "")
    return value[:limit] if limit else value


def clean_name(value: str, limit: int) -> str:
    """A QuickBooks list name: the books document's leaf name (one line, ':' → ' - '), text XML can carry, at
    most `limit` characters (Desktop's field length)."""
    return books_clean_name(clean_text(value))[:limit].strip()


# --- rendering ------------------------------------------------------------------------------------------


def _text(parent: ET.Element, name: str, value: str | None) -> ET.Element | None:
    if value is None or value == "":
        return None
    element = ET.SubElement(parent, name)
    element.text = value
    return element


def _ref(parent: ET.Element, name: str, full_name: str) -> None:
    if full_name:
        _text(ET.SubElement(parent, name), "FullName", full_name)


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _number(value: Decimal) -> str:
    """Quantity / rate: up to 5 decimals, no exponent, trailing zeros dropped."""
    text = f"{value.quantize(Decimal('0.00001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _address(parent: ET.Element, name: str, address: Address) -> None:
    if not address:
        return
    element = ET.SubElement(parent, name)
    _text(element, "Addr1", clean_text(address.line1, c.ADDR_MAX))
    _text(element, "Addr2", clean_text(address.line2, c.ADDR_MAX))
    _text(element, "City", clean_text(address.city, c.CITY_MAX))
    _text(element, "State", clean_text(address.region, c.STATE_MAX))
    _text(element, "PostalCode", clean_text(address.postal_code, c.POSTAL_CODE_MAX))
    _text(element, "Country", clean_text(address.country, c.COUNTRY_MAX))


def _customer_fields(element: ET.Element, customer: BooksCustomer) -> None:
    # CustomerAdd/CustomerMod order: [ListID, EditSequence,] Name, IsActive, ClassRef, ParentRef, CompanyName, …,
    # BillAddress, ShipAddress, …, Email, …
    _text(element, "Name", clean_name(customer.ref.name or customer.display_name, c.CUSTOMER_NAME_MAX))
    _address(element, "BillAddress", customer.bill_address)
    _text(element, "Email", clean_text(customer.email, c.EMAIL_MAX))


def customer_add(customer: BooksCustomer, request_id: str) -> ET.Element:
    rq = ET.Element("CustomerAddRq", {"requestID": request_id})
    _customer_fields(ET.SubElement(rq, "CustomerAdd"), customer)
    return rq


def customer_mod(customer: BooksCustomer, request_id: str, *, list_id: str, edit_sequence: str) -> ET.Element:
    rq = ET.Element("CustomerModRq", {"requestID": request_id})
    mod = ET.SubElement(rq, "CustomerMod")
    _text(mod, "ListID", list_id)
    _text(mod, "EditSequence", edit_sequence)
    _customer_fields(mod, customer)
    return rq


def customer_query(request_id: str, *, full_name: str = "", list_id: str = "") -> ET.Element:
    rq = ET.Element("CustomerQueryRq", {"requestID": request_id})
    if list_id:
        _text(rq, "ListID", list_id)
    else:
        _text(rq, "FullName", clean_name(full_name, c.CUSTOMER_NAME_MAX))
    return rq


def item_query(request_id: str) -> ET.Element:
    """Every active item's name (the names invoices refer to), and each sales tax item's rate. Sales tax items
    carry `Name` and no `FullName` (they are never sub-items), so both are asked for: `IncludeRetElement` leaves
    out every element it does not name."""
    rq = ET.Element("ItemQueryRq", {"requestID": request_id})
    _text(rq, "ActiveStatus", "ActiveOnly")
    for element in ("FullName", "Name", "TaxRate"):
        _text(rq, "IncludeRetElement", element)
    return rq


@dataclass(frozen=True)
class DesktopTax:
    """How an invoice's US sales tax reaches QuickBooks Desktop (desktop/mapping.py `invoice_tax` decides it).

    `item`: the sales tax item (or group) by FullName, sent as `ItemSalesTaxRef`; QuickBooks computes the tax from
    its rate over the lines whose sales tax code is taxable. Empty: no taxed line, no `ItemSalesTaxRef`.
    `taxable_code` / `non_taxable_code`: the sales tax codes of taxed and untaxed lines (`SalesTaxCodeRef`)."""

    item: str = ""
    taxable_code: str = c.TAXABLE_CODE
    non_taxable_code: str = c.NON_TAXABLE_CODE


NO_TAX = DesktopTax()


def item_service_add(
    request_id: str, *, name: str, description: str, price: Decimal, income_account: str
) -> ET.Element:
    """A service item for a product QuickBooks Desktop lacks, booked to the mapped income account.

    ItemServiceAdd order (qbXML OSR): Name, BarCode, IsActive, ClassRef, ParentRef, UnitOfMeasureSetRef,
    IsTaxIncluded, SalesTaxCodeRef, then SalesOrPurchase (Desc, Price | PricePercent, AccountRef) or
    SalesAndPurchase. Only leaf names are created (a sub-item would need its parent by ParentRef)."""
    rq = ET.Element("ItemServiceAddRq", {"requestID": request_id})
    add = ET.SubElement(rq, "ItemServiceAdd")
    _text(add, "Name", clean_name(name, c.ITEM_NAME_MAX))
    sales = ET.SubElement(add, "SalesOrPurchase")
    _text(sales, "Desc", clean_text(description, c.DESC_MAX))
    _text(sales, "Price", _money(price))
    _ref(sales, "AccountRef", clean_text(income_account, c.ACCOUNT_FULL_NAME_MAX))
    return rq


def _invoice_header(element: ET.Element, invoice: BooksInvoice, tax: DesktopTax = NO_TAX) -> None:
    # InvoiceAdd order: CustomerRef, ClassRef, ARAccountRef, TemplateRef, TxnDate, RefNumber, BillAddress,
    # ShipAddress, IsPending, PONumber, TermsRef, DueDate, SalesRepRef, FOB, ShipDate, ShipMethodRef,
    # ItemSalesTaxRef, Memo, … then the lines. InvoiceMod has the same order after TxnID and EditSequence.
    _ref(element, "CustomerRef", clean_name(invoice.customer.name, c.CUSTOMER_NAME_MAX))
    _text(element, "TxnDate", invoice.txn_date.isoformat())
    _text(element, "RefNumber", clean_text(invoice.number, c.REF_NUMBER_MAX))
    if invoice.due_date:
        _text(element, "DueDate", invoice.due_date.isoformat())
    _ref(element, "ItemSalesTaxRef", clean_text(tax.item, c.ITEM_FULL_NAME_MAX))
    _text(element, "Memo", clean_text(invoice.memo, c.MEMO_MAX))


def _invoice_line(
    parent: ET.Element, name: str, line: BooksLine, *, new_line_id: bool, tax: DesktopTax = NO_TAX
) -> None:
    # InvoiceLineAdd order: ItemRef, Desc, Quantity, UnitOfMeasure, Rate, ClassRef, Amount, …, ServiceDate,
    # SalesTaxCodeRef. InvoiceLineMod starts with TxnLineID ("-1" adds a line; lines not listed are deleted).
    element = ET.SubElement(parent, name)
    if new_line_id:
        _text(element, "TxnLineID", "-1")
    _ref(element, "ItemRef", clean_text(line.item.name, c.ITEM_FULL_NAME_MAX))  # a full name: "Parent:Child"
    _text(element, "Desc", clean_text(line.description, c.DESC_MAX))
    _text(element, "Quantity", _number(line.quantity))
    _text(element, "Rate", _number(line.rate))
    _text(element, "Amount", _money(line.amount))
    code = tax.taxable_code if line.taxable else tax.non_taxable_code
    _ref(element, "SalesTaxCodeRef", clean_text(code, c.SALES_TAX_CODE_NAME_MAX))


def invoice_add(invoice: BooksInvoice, request_id: str, *, tax: DesktopTax = NO_TAX) -> ET.Element:
    rq = ET.Element("InvoiceAddRq", {"requestID": request_id})
    add = ET.SubElement(rq, "InvoiceAdd")
    _invoice_header(add, invoice, tax)
    for line in invoice.lines:
        _invoice_line(add, "InvoiceLineAdd", line, new_line_id=False, tax=tax)
    return rq


def invoice_mod(
    invoice: BooksInvoice, request_id: str, *, txn_id: str, edit_sequence: str, tax: DesktopTax = NO_TAX
) -> ET.Element:
    """All lines replaced: QuickBooks deletes the lines a mod does not list, and `TxnLineID -1` adds each one."""
    rq = ET.Element("InvoiceModRq", {"requestID": request_id})
    mod = ET.SubElement(rq, "InvoiceMod")
    _text(mod, "TxnID", txn_id)
    _text(mod, "EditSequence", edit_sequence)
    _invoice_header(mod, invoice, tax)
    for line in invoice.lines:
        _invoice_line(mod, "InvoiceLineMod", line, new_line_id=True, tax=tax)
    return rq


def invoice_query(request_id: str, *, txn_id: str = "", ref_number: str = "") -> ET.Element:
    rq = ET.Element("InvoiceQueryRq", {"requestID": request_id})
    if txn_id:
        _text(rq, "TxnID", txn_id)
    else:
        _text(rq, "RefNumber", clean_text(ref_number, c.REF_NUMBER_MAX))
    return rq


def txn_void(request_id: str, *, txn_id: str) -> ET.Element:
    rq = ET.Element("TxnVoidRq", {"requestID": request_id})
    _text(rq, "TxnVoidType", "Invoice")
    _text(rq, "TxnID", txn_id)
    return rq


def payment_marker(company_id: int, payment_id: int) -> str:
    """Written into a payment's Memo: a payment read back with it is ours (never recorded here a second time)."""
    return f"[attune:{company_id}:p{payment_id}]"


def receive_payment_add(
    payment: BooksPayment, request_id: str, *, customer_list_id: str, invoice_txn_id: str, company_id: int
) -> ET.Element:
    """A payment recorded in attune, applied to its invoice (by TxnID) for the customer (by ListID).

    ReceivePaymentAdd order (qbXML OSR): CustomerRef, ARAccountRef, TxnDate, RefNumber, TotalAmount,
    PaymentMethodRef, Memo, DepositToAccountRef, CreditCardTxnInfo, IsAutoApply | AppliedToTxnAdd*; inside
    AppliedToTxnAdd: TxnID, PaymentAmount, SetCredit, DiscountAmount, DiscountAccountRef."""
    rq = ET.Element("ReceivePaymentAddRq", {"requestID": request_id})
    add = ET.SubElement(rq, "ReceivePaymentAdd")
    _text(ET.SubElement(add, "CustomerRef"), "ListID", customer_list_id)
    _text(add, "TxnDate", payment.txn_date.isoformat())
    _text(add, "RefNumber", clean_text(payment.reference, c.PAYMENT_REF_NUMBER_MAX).strip())
    _text(add, "TotalAmount", _money(payment.amount))
    memo = f"{payment_marker(company_id, payment.local_id)} {payment.method} for invoice {payment.invoice_number}"
    _text(add, "Memo", clean_text(memo, c.MEMO_MAX))
    applied = ET.SubElement(add, "AppliedToTxnAdd")
    _text(applied, "TxnID", invoice_txn_id)
    _text(applied, "PaymentAmount", _money(payment.amount))
    return rq


def receive_payment_del(request_id: str, *, txn_id: str) -> ET.Element:
    """Delete a payment: `TxnVoidType` has no ReceivePayment (payments cannot be voided through qbXML), while
    `TxnDelType` has (docs/developer/quickbooks-desktop.md, "Payments recorded in attune")."""
    rq = ET.Element("TxnDelRq", {"requestID": request_id})
    _text(rq, "TxnDelType", "ReceivePayment")
    _text(rq, "TxnID", txn_id)
    return rq


def receive_payment_find(request_id: str, *, customer_list_id: str, txn_date: dt.date) -> ET.Element:
    """The customer's payments of one day (to find out whether a ReceivePaymentAdd whose answer was lost landed:
    its Memo carries our marker)."""
    rq = ET.Element("ReceivePaymentQueryRq", {"requestID": request_id})
    dates = ET.SubElement(rq, "TxnDateRangeFilter")
    _text(dates, "FromTxnDate", txn_date.isoformat())
    _text(dates, "ToTxnDate", txn_date.isoformat())
    _text(ET.SubElement(rq, "EntityFilter"), "ListID", customer_list_id)
    _text(rq, "IncludeLineItems", "true")
    return rq


def receive_payment_query(request_id: str, *, modified_since: dt.datetime | None) -> ET.Element:
    """Payments changed since the last read, with the invoices they pay (`IncludeLineItems`)."""
    rq = ET.Element("ReceivePaymentQueryRq", {"requestID": request_id})
    if modified_since is not None:
        dates = ET.SubElement(rq, "ModifiedDateRangeFilter")
        _text(dates, "FromModifiedDate", modified_since.replace(microsecond=0).isoformat())
    _text(rq, "IncludeLineItems", "true")
    return rq


def fragment(rq: ET.Element) -> str:
    """One request as qbXML text: ASCII only (non-ASCII as numeric character references)."""
    return ET.tostring(rq, encoding="us-ascii", xml_declaration=False).decode("ascii")


def message(fragments: list[str], *, version: str = c.QBXML_VERSION) -> str:
    """A whole qbXML request document. `continueOnError`: one refused request does not stop the others."""
    body = "".join(fragments)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="continueOnError">{body}</QBXMLMsgsRq></QBXML>'
    )
