"""A small fake QuickBooks Desktop with its Web Connector, for tests.

Like the Online simulator it is a stranger to our code: it never imports our renderer, parser or services. It
plays the Web Connector's side of a session through a real SOAP client (zeep) against the endpoint served by
pytest-django's live_server, and answers qbXML as QuickBooks Desktop does (facts: QBO-REFERENCE §6.2–6.3,
docs/developer/quickbooks-desktop.md): statusCode 0 ok, 1 no match on a query, 3100 name in use, 3120 object
not found, 3140 invalid reference, 3200 stale EditSequence; a message whose elements are out of schema order
is refused whole with hresult 0x80040400.

Sales tax as Desktop does it: an invoice names one sales tax item (`ItemSalesTaxRef`) and each line a sales tax
code (`SalesTaxCodeRef`); QuickBooks charges the item's rate on the lines whose code is taxable, rounded to the
cent. Payments (`ReceivePaymentAdd`, `TxnDel` of a ReceivePayment) lower and restore the invoice's balance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from xml.etree import ElementTree as ET

import zeep
from defusedxml.ElementTree import fromstring

PARSE_ERROR_HRESULT = "0x80040400"
PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."

# The qbXML schema's element order for what attune sends (OSR, qbXML 13.0). Elements must appear in this
# order; any element not listed is "unknown" here and refused the same way.
_CUSTOMER = [
    "Name",
    "IsActive",
    "ClassRef",
    "ParentRef",
    "CompanyName",
    "Salutation",
    "FirstName",
    "MiddleName",
    "LastName",
    "JobTitle",
    "BillAddress",
    "ShipAddress",
    "PrintAs",
    "Phone",
    "AltPhone",
    "Fax",
    "Email",
]
_INVOICE = [
    "CustomerRef",
    "ClassRef",
    "ARAccountRef",
    "TemplateRef",
    "TxnDate",
    "RefNumber",
    "BillAddress",
    "ShipAddress",
    "IsPending",
    "PONumber",
    "TermsRef",
    "DueDate",
    "SalesRepRef",
    "FOB",
    "ShipDate",
    "ShipMethodRef",
    "ItemSalesTaxRef",
    "Memo",
    "CustomerMsgRef",
    "IsToBePrinted",
    "IsToBeEmailed",
    "IsTaxIncluded",
    "CustomerSalesTaxCodeRef",
    "Other",
    "ExchangeRate",
]
_LINE = [
    "ItemRef",
    "Desc",
    "Quantity",
    "UnitOfMeasure",
    "Rate",
    "RatePercent",
    "PriceLevelRef",
    "ClassRef",
    "Amount",
    "OptionForPriceRuleConflict",
    "InventorySiteRef",
    "SerialNumber",
    "LotNumber",
    "ServiceDate",
    "SalesTaxCodeRef",
    "IsTaxable",
    "OverrideItemAccountRef",
    "Other1",
    "Other2",
]
_QUERY = [
    "MaxReturned",
    "ModifiedDateRangeFilter",
    "TxnDateRangeFilter",
    "EntityFilter",
    "IncludeLineItems",
    "IncludeRetElement",
]
ORDER = {
    "CustomerAdd": _CUSTOMER,
    "CustomerMod": ["ListID", "EditSequence", *_CUSTOMER],
    "BillAddress": ["Addr1", "Addr2", "Addr3", "Addr4", "Addr5", "City", "State", "PostalCode", "Country", "Note"],
    "InvoiceAdd": [*_INVOICE, "ExternalGUID", "LinkToTxnID", "SetCredit", "InvoiceLineAdd"],
    "InvoiceMod": ["TxnID", "EditSequence", *_INVOICE, "InvoiceLineMod"],
    "InvoiceLineAdd": _LINE,
    "InvoiceLineMod": ["TxnLineID", *_LINE],
    "ItemQueryRq": [
        "ListID",
        "FullName",
        "MaxReturned",
        "ActiveStatus",
        "FromModifiedDate",
        "ToModifiedDate",
        "NameFilter",
        "NameRangeFilter",
        "IncludeRetElement",
        "OwnerID",
    ],
    "CustomerQueryRq": ["ListID", "FullName", "MaxReturned", "ActiveStatus", "IncludeRetElement"],
    "InvoiceQueryRq": ["TxnID", "RefNumber", "RefNumberCaseSensitive", *_QUERY],
    "ReceivePaymentQueryRq": ["TxnID", "RefNumber", *_QUERY],
    "TxnVoidRq": ["TxnVoidType", "TxnID"],
    # ReceivePaymentAdd (OSR): CustomerRef, ARAccountRef, TxnDate, RefNumber, TotalAmount, PaymentMethodRef, Memo,
    # DepositToAccountRef, CreditCardTxnInfo, then IsAutoApply or AppliedToTxnAdd (repeatable).
    "ReceivePaymentAdd": [
        "CustomerRef",
        "ARAccountRef",
        "TxnDate",
        "RefNumber",
        "TotalAmount",
        "PaymentMethodRef",
        "Memo",
        "DepositToAccountRef",
        "CreditCardTxnInfo",
        "IsAutoApply",
        "AppliedToTxnAdd",
    ],
    "AppliedToTxnAdd": ["TxnID", "PaymentAmount", "TxnLineDetail", "SetCredit", "DiscountAmount", "DiscountAccountRef"],
    "TxnDelRq": ["TxnDelType", "TxnID"],
    "ItemServiceAdd": [
        "Name",
        "BarCode",
        "IsActive",
        "ClassRef",
        "ParentRef",
        "UnitOfMeasureSetRef",
        "IsTaxIncluded",
        "SalesTaxCodeRef",
        "SalesOrPurchase",
        "SalesAndPurchase",
    ],
    "SalesOrPurchase": ["Desc", "Price", "PricePercent", "AccountRef"],
    "TxnDateRangeFilter": ["FromTxnDate", "ToTxnDate", "DateMacro"],
    "EntityFilter": ["ListID", "FullName", "ListIDWithChildren", "FullNameWithChildren"],
}
CENT = Decimal("0.01")
# Name lengths Desktop refuses beyond (OSR): item and sales tax item names 31, sales tax code names 3.
ITEM_NAME_MAX = 31
SALES_TAX_CODE_MAX = 3


class ParseRefused(Exception):
    pass


def _check_order(element: ET.Element) -> None:
    order = ORDER.get(element.tag)
    if order is not None:
        positions = []
        for item in element:
            if item.tag not in order:
                raise ParseRefused(f"{item.tag} is not allowed in {element.tag}")
            positions.append(order.index(item.tag))
        if positions != sorted(positions):
            raise ParseRefused(f"{element.tag} children out of order")
    for item in element:
        _check_order(item)


def _text(element: ET.Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "") if found is not None else ""


@dataclass
class Line:
    item: str
    desc: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal
    tax_code: str
    taxable: bool = False


@dataclass
class DesktopInvoice:
    txn_id: str
    edit_sequence: str
    ref_number: str
    customer: str
    txn_date: str
    due_date: str
    memo: str
    lines: list[Line]
    voided: bool = False
    tax_item: str = ""
    tax_percent: Decimal = Decimal("0")
    paid: Decimal = Decimal("0")

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    @property
    def sales_tax(self) -> Decimal:
        """The item's rate on the taxable lines, rounded once to the cent (as QuickBooks Desktop computes it)."""
        base = sum((line.amount for line in self.lines if line.taxable), Decimal("0"))
        return (base * self.tax_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.sales_tax

    @property
    def balance(self) -> Decimal:
        return self.total - self.paid


@dataclass
class DesktopCustomer:
    list_id: str
    edit_sequence: str
    name: str
    email: str = ""
    city: str = ""


@dataclass
class SessionReport:
    auth_status: str = ""
    ticket: str = ""
    percents: list[int] = field(default_factory=list)
    messages: int = 0
    last_error: str = ""
    closed: str = ""


class FakeQuickBooksDesktop:
    """The company file (customers, items, invoices, payments) plus a Web Connector that drives sessions."""

    def __init__(
        self,
        wsdl_url: str,
        *,
        items: tuple[str, ...] = (),
        sales_tax_items: dict[str, str] | None = None,
        sales_tax_codes: dict[str, bool] | None = None,
        accounts: tuple[str, ...] = ("Sales", "Income:Services"),
    ) -> None:
        self.client = zeep.Client(wsdl_url)
        self.items = {name.casefold(): name for name in items}
        # Sales tax items (name -> rate in percent) and sales tax codes (name -> taxable), as set up in the file.
        self.sales_tax_items = {
            name.casefold(): (name, Decimal(rate)) for name, rate in (sales_tax_items or {}).items()
        }
        codes = sales_tax_codes if sales_tax_codes is not None else {"Tax": True, "Non": False}
        self.sales_tax_codes = {name.casefold(): taxable for name, taxable in codes.items()}
        self.accounts = {name.casefold() for name in accounts}
        self.item_accounts: dict[str, str] = {}  # item created through qbXML -> its income account
        self.customers: dict[str, DesktopCustomer] = {}
        self.invoices: dict[str, DesktopInvoice] = {}
        self.payments: list[dict] = []
        self.received: list[ET.Element] = []  # every request element, in order
        self.raw_requests: list[str] = []  # every qbXML message as it arrived
        self.refuse: dict[str, tuple[str, str]] = {}  # RefNumber or customer name -> (statusCode, message)
        self._ids = itertools.count(1)
        self._sequence = itertools.count(1_700_000_000)

    # --- the company file ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{next(self._ids):X}-{next(self._sequence)}"

    def _edit_sequence(self) -> str:
        return str(next(self._sequence))

    def add_customer(self, name: str) -> DesktopCustomer:
        customer = DesktopCustomer(self._new_id(), self._edit_sequence(), name)
        self.customers[name.casefold()] = customer
        return customer

    def edit_invoice_in_quickbooks(self, ref_number: str) -> None:
        """Someone edits the invoice in QuickBooks: its EditSequence moves on."""
        self.invoice_by_ref(ref_number).edit_sequence = self._edit_sequence()

    def receive_payment(self, ref_number: str, amount: str, *, txn_date: str = "2026-02-01") -> None:
        """Someone receives a payment in QuickBooks, applied to the invoice."""
        invoice = self.invoice_by_ref(ref_number)
        invoice.paid += Decimal(amount)
        self.payments.append(
            {
                "txn_id": self._new_id(),
                "edit_sequence": self._edit_sequence(),
                "customer": invoice.customer,
                "txn_date": txn_date,
                "amount": amount,
                "applied_to": invoice.txn_id,
                "ref": ref_number,
                "memo": "",
            }
        )

    def invoice_by_ref(self, ref_number: str) -> DesktopInvoice:
        matches = [invoice for invoice in self.invoices.values() if invoice.ref_number == ref_number]
        assert len(matches) == 1, f"{len(matches)} invoices numbered {ref_number}"
        return matches[0]

    def kinds_received(self) -> list[str]:
        return [element.tag.removesuffix("Rq") for element in self.received]

    # --- the Web Connector --------------------------------------------------------------------------

    def run(
        self,
        username: str,
        password: str,
        *,
        drop_after_messages: int | None = None,
        lose_message: int | None = None,
        answer_with: dict | None = None,
    ) -> SessionReport:
        """One Web Connector run.

        `drop_after_messages=N`: QuickBooks applies the Nth message, then the run dies before the answer is sent
        back (no receiveResponseXML, no closeConnection). `lose_message=N`: the run dies with the Nth message
        before QuickBooks saw it. `answer_with`: replaces the answer to message `answer_with["at"]` (default 1)
        with {"hresult", "message"} or {"response": raw qbXML}; QuickBooks still applied the real one unless
        `answer_with["applied"]` is False."""
        service = self.client.service
        report = SessionReport()
        service.serverVersion()
        assert service.clientVersion("2.3.0.215") in (None, "")
        ticket, status = service.authenticate(username, password)
        report.ticket, report.auth_status = ticket, status or ""
        if status in ("nvu", "none"):
            return report
        while True:
            request = service.sendRequestXML(ticket, "", "C:\\Company Files\\Test.qbw", "US", 13, 0)
            if not request:
                report.last_error = service.getLastError(ticket) or ""
                break
            report.messages += 1
            self.raw_requests.append(request)
            if lose_message == report.messages:
                return report
            replaced = answer_with is not None and answer_with.get("at", 1) == report.messages
            response = self.answer(request) if not replaced or answer_with.get("applied", True) else ""
            if drop_after_messages is not None and report.messages >= drop_after_messages:
                return report
            if replaced:
                percent = service.receiveResponseXML(
                    ticket,
                    answer_with.get("response", ""),
                    answer_with.get("hresult", ""),
                    answer_with.get("message", ""),
                )
            else:
                percent = service.receiveResponseXML(ticket, response, "", "")
            report.percents.append(percent)
            if percent < 0:
                report.last_error = service.getLastError(ticket) or ""
                break
            if percent >= 100:
                break
        report.closed = service.closeConnection(ticket) or ""
        return report

    # --- QuickBooks answering qbXML -----------------------------------------------------------------

    def answer(self, request_text: str) -> str:
        root = fromstring(request_text.encode("utf-8"), forbid_dtd=True)
        messages = root.find("QBXMLMsgsRq")
        assert messages is not None
        out = ET.Element("QBXML")
        rs_parent = ET.SubElement(out, "QBXMLMsgsRs")
        for rq in messages:
            self.received.append(rq)
            kind = rq.tag.removesuffix("Rq")
            try:
                _check_order(rq)
            except ParseRefused:
                raise AssertionError(f"{PARSE_ERROR_HRESULT} {PARSE_ERROR_MESSAGE}: {ET.tostring(rq)!r}") from None
            rs = ET.SubElement(rs_parent, f"{kind}Rs", {"requestID": rq.get("requestID", "")})
            code, message, rets = getattr(self, f"_{kind}")(rq)
            rs.set("statusCode", code)
            rs.set("statusSeverity", "Info" if code in ("0", "1") else "Error")
            rs.set("statusMessage", message)
            for ret in rets:
                rs.append(ret)
        return '<?xml version="1.0" ?>\n<?qbxml version="13.0"?>\n' + ET.tostring(out, encoding="unicode")

    OK = ("0", "Status OK")

    def _customer_ret(self, customer: DesktopCustomer) -> ET.Element:
        ret = ET.Element("CustomerRet")
        for name, value in (
            ("ListID", customer.list_id),
            ("EditSequence", customer.edit_sequence),
            ("Name", customer.name),
            ("FullName", customer.name),
        ):
            ET.SubElement(ret, name).text = value
        return ret

    def _invoice_ret(self, invoice: DesktopInvoice) -> ET.Element:
        ret = ET.Element("InvoiceRet")
        for name, value in (
            ("TxnID", invoice.txn_id),
            ("EditSequence", invoice.edit_sequence),
            ("RefNumber", invoice.ref_number),
            ("TxnDate", invoice.txn_date),
        ):
            ET.SubElement(ret, name).text = value
        ET.SubElement(ET.SubElement(ret, "CustomerRef"), "FullName").text = invoice.customer
        for name, value in (
            ("Subtotal", invoice.subtotal),
            ("SalesTaxTotal", invoice.sales_tax),
            ("BalanceRemaining", invoice.balance),
        ):
            ET.SubElement(ret, name).text = f"{value:.2f}"
        return ret

    def _CustomerAdd(self, rq):
        add = rq.find("CustomerAdd")
        name = _text(add, "Name")
        if name.casefold() in self.refuse:
            return (*self.refuse[name.casefold()], [])
        if name.casefold() in self.customers:
            return "3100", f'The name "{name}" of the list element is already in use.', []
        customer = DesktopCustomer(
            self._new_id(), self._edit_sequence(), name, _text(add, "Email"), _text(add, "BillAddress/City")
        )
        self.customers[name.casefold()] = customer
        return (*self.OK, [self._customer_ret(customer)])

    def _CustomerMod(self, rq):
        mod = rq.find("CustomerMod")
        customer = next((c for c in self.customers.values() if c.list_id == _text(mod, "ListID")), None)
        if customer is None:
            return "3120", "Object specified in the request cannot be found.", []
        if customer.edit_sequence != _text(mod, "EditSequence"):
            return "3200", "The provided edit sequence is out-of-date.", []
        del self.customers[customer.name.casefold()]
        customer.name, customer.email = _text(mod, "Name"), _text(mod, "Email")
        customer.edit_sequence = self._edit_sequence()
        self.customers[customer.name.casefold()] = customer
        return (*self.OK, [self._customer_ret(customer)])

    def _CustomerQuery(self, rq):
        list_id, full_name = _text(rq, "ListID"), _text(rq, "FullName")
        found = [
            c
            for c in self.customers.values()
            if c.list_id == list_id or (full_name and c.name.casefold() == full_name.casefold())
        ]
        if not found:
            return "1", "A query request did not find a matching object in QuickBooks", []
        return (*self.OK, [self._customer_ret(c) for c in found])

    def _ItemQuery(self, rq):
        rets = []
        # IncludeRetElement: only the elements named come back (none named: all of them).
        wanted = {element.text for element in rq.findall("IncludeRetElement")}

        def ret_of(kind: str, fields: tuple) -> ET.Element:
            ret = ET.Element(kind)
            for tag, value in fields:
                if not wanted or tag in wanted:
                    ET.SubElement(ret, tag).text = value
            return ret

        for name in self.items.values():
            rets.append(ret_of("ItemServiceRet", (("Name", name.rsplit(":", 1)[-1]), ("FullName", name))))
        for name, rate in self.sales_tax_items.values():
            # A sales tax item is never a sub-item: it has a Name and no FullName.
            rets.append(ret_of("ItemSalesTaxRet", (("Name", name), ("TaxRate", f"{rate}"))))
        if not rets:
            return "1", "A query request did not find a matching object in QuickBooks", []
        return (*self.OK, rets)

    def _ItemServiceAdd(self, rq):
        add = rq.find("ItemServiceAdd")
        name = _text(add, "Name")
        if len(name) > ITEM_NAME_MAX or ":" in name:
            return "3070", f'The string "{name}" in the field "Name" is too long or not allowed.', []
        if name.casefold() in self.items or name.casefold() in self.sales_tax_items:
            return "3100", f'The name "{name}" of the list element is already in use.', []
        account = _text(add, "SalesOrPurchase/AccountRef/FullName")
        if account.casefold() not in self.accounts:
            return "3140", f'There is an invalid reference to QuickBooks Account "{account}" in the Item.', []
        self.items[name.casefold()] = name
        self.item_accounts[name] = account
        ret = ET.Element("ItemServiceRet")
        for tag, value in (("ListID", self._new_id()), ("EditSequence", self._edit_sequence()), ("Name", name)):
            ET.SubElement(ret, tag).text = value
        ET.SubElement(ret, "FullName").text = name
        return (*self.OK, [ret])

    def _lines(self, parent, tag) -> list[Line] | str:
        lines = []
        for element in parent.findall(tag):
            item = _text(element, "ItemRef/FullName")
            if item.casefold() not in self.items:
                return f'There is an invalid reference to QuickBooks Item "{item}" in the Invoice line.'
            code = _text(element, "SalesTaxCodeRef/FullName")
            if code and (len(code) > SALES_TAX_CODE_MAX or code.casefold() not in self.sales_tax_codes):
                return f'There is an invalid reference to QuickBooks SalesTaxCode "{code}" in the Invoice line.'
            lines.append(
                Line(
                    item,
                    _text(element, "Desc"),
                    Decimal(_text(element, "Quantity") or "1"),
                    Decimal(_text(element, "Rate") or "0"),
                    Decimal(_text(element, "Amount") or "0"),
                    code,
                    self.sales_tax_codes.get(code.casefold(), False),
                )
            )
        return lines

    def _sales_tax_item(self, element) -> tuple[str, Decimal] | str:
        """The invoice's sales tax item and its rate ("" and 0 when it names none), or a 3140 message."""
        name = _text(element, "ItemSalesTaxRef/FullName")
        if not name:
            return "", Decimal("0")
        if len(name) > ITEM_NAME_MAX or name.casefold() not in self.sales_tax_items:
            return f'There is an invalid reference to QuickBooks ItemSalesTax "{name}" in the Invoice.'
        return self.sales_tax_items[name.casefold()]

    def _InvoiceAdd(self, rq):
        add = rq.find("InvoiceAdd")
        ref, customer = _text(add, "RefNumber"), _text(add, "CustomerRef/FullName")
        if ref in self.refuse:
            return (*self.refuse[ref], [])
        if customer.casefold() not in self.customers:
            return "3140", f'There is an invalid reference to QuickBooks Customer "{customer}" in the Invoice.', []
        lines = self._lines(add, "InvoiceLineAdd")
        if isinstance(lines, str):
            return "3140", lines, []
        tax = self._sales_tax_item(add)
        if isinstance(tax, str):
            return "3140", tax, []
        invoice = DesktopInvoice(
            self._new_id(),
            self._edit_sequence(),
            ref,
            customer,
            _text(add, "TxnDate"),
            _text(add, "DueDate"),
            _text(add, "Memo"),
            lines,
            tax_item=tax[0],
            tax_percent=tax[1],
        )
        self.invoices[invoice.txn_id] = invoice
        return (*self.OK, [self._invoice_ret(invoice)])

    def _InvoiceMod(self, rq):
        mod = rq.find("InvoiceMod")
        invoice = self.invoices.get(_text(mod, "TxnID"))
        if invoice is None:
            return "3120", "Object specified in the request cannot be found.", []
        if invoice.edit_sequence != _text(mod, "EditSequence"):
            return "3200", "The provided edit sequence is out-of-date.", []
        if invoice.ref_number in self.refuse:
            return (*self.refuse[invoice.ref_number], [])
        lines = self._lines(mod, "InvoiceLineMod")
        if isinstance(lines, str):
            return "3140", lines, []
        tax = self._sales_tax_item(mod)
        if isinstance(tax, str):
            return "3140", tax, []
        invoice.tax_item, invoice.tax_percent = tax
        invoice.customer = _text(mod, "CustomerRef/FullName") or invoice.customer
        invoice.memo, invoice.lines = _text(mod, "Memo"), lines  # lines not listed are deleted
        invoice.edit_sequence = self._edit_sequence()
        return (*self.OK, [self._invoice_ret(invoice)])

    def _InvoiceQuery(self, rq):
        txn_id, ref = _text(rq, "TxnID"), _text(rq, "RefNumber")
        found = [i for i in self.invoices.values() if (txn_id and i.txn_id == txn_id) or (ref and i.ref_number == ref)]
        if not found:
            return "1", "A query request did not find a matching object in QuickBooks", []
        return (*self.OK, [self._invoice_ret(i) for i in found])

    def _TxnVoid(self, rq):
        invoice = self.invoices.get(_text(rq, "TxnID"))
        if invoice is None:
            return "3120", "Object specified in the request cannot be found.", []
        invoice.voided, invoice.lines = True, []
        return (*self.OK, [])

    def _payment_ret(self, payment: dict) -> ET.Element:
        ret = ET.Element("ReceivePaymentRet")
        ET.SubElement(ret, "TxnID").text = payment["txn_id"]
        ET.SubElement(ret, "EditSequence").text = payment["edit_sequence"]
        ET.SubElement(ret, "TxnDate").text = payment["txn_date"]
        ET.SubElement(ET.SubElement(ret, "CustomerRef"), "FullName").text = payment["customer"]
        ET.SubElement(ret, "TotalAmount").text = payment["amount"]
        if payment["memo"]:
            ET.SubElement(ret, "Memo").text = payment["memo"]
        applied = ET.SubElement(ret, "AppliedToTxnRet")
        ET.SubElement(applied, "TxnID").text = payment["applied_to"]
        ET.SubElement(applied, "TxnType").text = "Invoice"
        ET.SubElement(applied, "RefNumber").text = payment["ref"]
        ET.SubElement(applied, "Amount").text = payment["amount"]
        return ret

    def _customer_by_list_id(self, list_id: str) -> DesktopCustomer | None:
        return next((c for c in self.customers.values() if c.list_id == list_id), None)

    def _ReceivePaymentAdd(self, rq):
        add = rq.find("ReceivePaymentAdd")
        customer = self._customer_by_list_id(_text(add, "CustomerRef/ListID"))
        if customer is None:
            return "3140", "There is an invalid reference to QuickBooks Customer in the ReceivePayment.", []
        applied = add.find("AppliedToTxnAdd")
        txn_id = _text(applied, "TxnID")
        invoice = self.invoices.get(txn_id)
        if invoice is None or invoice.voided or invoice.customer.casefold() != customer.name.casefold():
            return "3140", f'There is an invalid reference to QuickBooks Invoice "{txn_id}" in the ReceivePayment.', []
        amount = Decimal(_text(applied, "PaymentAmount") or _text(add, "TotalAmount") or "0")
        if amount > invoice.balance:
            return "3250", "The payment amount is more than the invoice's balance.", []
        invoice.paid += amount
        payment = {
            "txn_id": self._new_id(),
            "edit_sequence": self._edit_sequence(),
            "customer": customer.name,
            "customer_list_id": customer.list_id,
            "txn_date": _text(add, "TxnDate"),
            "amount": f"{amount:.2f}",
            "applied_to": invoice.txn_id,
            "ref": _text(add, "RefNumber"),
            "memo": _text(add, "Memo"),
        }
        self.payments.append(payment)
        return (*self.OK, [self._payment_ret(payment)])

    def _TxnDel(self, rq):
        txn_id = _text(rq, "TxnID")
        if _text(rq, "TxnDelType") != "ReceivePayment":
            return "3170", "This stand-in deletes only payments.", []
        payment = next((p for p in self.payments if p["txn_id"] == txn_id), None)
        if payment is None:
            return "3120", f'Object "{txn_id}" specified in the request cannot be found.', []
        self.payments.remove(payment)
        invoice = self.invoices.get(payment["applied_to"])
        if invoice is not None:
            invoice.paid -= Decimal(payment["amount"])
        return (*self.OK, [])

    def _ReceivePaymentQuery(self, rq):
        since = _text(rq, "TxnDateRangeFilter/FromTxnDate")
        until = _text(rq, "TxnDateRangeFilter/ToTxnDate")
        customer = _text(rq, "EntityFilter/ListID")
        rets = []
        for payment in self.payments:
            if since and payment["txn_date"] < since or until and payment["txn_date"] > until:
                continue
            if customer and payment.get("customer_list_id", "") != customer:
                known = self._customer_by_list_id(customer)
                if known is None or known.name.casefold() != payment["customer"].casefold():
                    continue
            rets.append(self._payment_ret(payment))
        if not rets:
            return "1", "A query request did not find a matching object in QuickBooks", []
        return (*self.OK, rets)
