"""The qbXML renderer and parser on their own: escaping, element order, limits, and the hardened parser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from defusedxml.ElementTree import fromstring

from integrations.books.document import (
    Address,
    BooksCustomer,
    BooksInvoice,
    BooksLine,
    BooksPayment,
    CustomerRef,
    ItemRef,
)
from integrations.quickbooks.desktop import qbxml
from integrations.quickbooks.desktop.exceptions import DesktopProtocolError
from integrations.quickbooks.desktop.responses import parse_response
from tests.desktop.standin import ORDER, ParseRefused, _check_order

AWKWARD = "Zoë & <Sons>\tLtd\nNorth \"Ω\" 'x' \x01"


def _invoice(**changes) -> BooksInvoice:
    fields = {
        "local_id": 1,
        "number": "INV-0001",
        "customer": CustomerRef(name=AWKWARD),
        "txn_date": dt.date(2026, 1, 15),
        "due_date": dt.date(2026, 2, 14),
        "currency": "USD",
        "memo": "Line one & two\n<three> – “quoted”",
        "lines": (
            BooksLine(
                position=1,
                item=ItemRef(name="Café: Beans & <More>"),
                description="Tab\there, ünïcödé, 100 % & <b>",
                quantity=Decimal("2.5000"),
                rate=Decimal("12.3400"),
                amount=Decimal("30.85"),
                taxable=True,
            ),
        ),
    }
    return BooksInvoice(**{**fields, **changes})


def _customer(name: str = "A", **fields) -> BooksCustomer:
    return BooksCustomer(local_id=1, ref=CustomerRef(name=name), display_name=name, **fields)


def test_text_is_escaped_ascii_only_and_reads_back_unchanged():
    message = qbxml.message([qbxml.fragment(qbxml.invoice_add(_invoice(), "r-1"))])
    message.encode("ascii")  # non-ASCII only as numeric character references
    assert "&#246;" in message or "&#xf6;" in message.lower()
    add = fromstring(message.encode()).find("QBXMLMsgsRq/InvoiceAddRq/InvoiceAdd")
    # A name is one line (tabs/new lines become spaces); a control character XML cannot carry is dropped.
    assert add.find("CustomerRef/FullName").text == "Zoë & <Sons> Ltd North \"Ω\" 'x'"
    assert add.find("Memo").text == "Line one & two\n<three> – “quoted”"
    line = add.find("InvoiceLineAdd")
    # An item reference is a full name: a mapped "Parent:Child" keeps its ':' (the books document already made
    # our own product names leaf names).
    assert line.find("ItemRef/FullName").text == "Café: Beans & <More>"
    assert line.find("Desc").text == "Tab\there, ünïcödé, 100 % & <b>"
    assert (line.find("Quantity").text, line.find("Rate").text, line.find("Amount").text) == ("2.5", "12.34", "30.85")
    assert line.find("SalesTaxCodeRef/FullName").text == "Tax"


def test_elements_follow_the_schema_order():
    # The stand-in's order table is written from the OSR, separately from the renderer.
    for rq in (
        qbxml.invoice_add(_invoice(), "1"),
        qbxml.invoice_mod(_invoice(), "2", txn_id="1-2", edit_sequence="17"),
        qbxml.customer_add(_customer(email="a@example.com", bill_address=Address(line1="1 St", city="X")), "3"),
        qbxml.customer_mod(_customer(), "4", list_id="8-1", edit_sequence="3"),
        qbxml.item_query("5"),
        qbxml.invoice_query("6", ref_number="INV-1"),
        qbxml.receive_payment_query("7", modified_since=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)),
        qbxml.txn_void("8", txn_id="1-2"),
        qbxml.invoice_add(_invoice(), "9", tax=qbxml.DesktopTax(item="CA Sales Tax")),
        qbxml.invoice_mod(_invoice(), "10", txn_id="1-2", edit_sequence="17", tax=qbxml.DesktopTax(item="CA")),
        qbxml.receive_payment_add(_payment(), "11", customer_list_id="8-1", invoice_txn_id="1-2", company_id=3),
        qbxml.receive_payment_del("12", txn_id="5-6"),
        qbxml.receive_payment_find("13", customer_list_id="8-1", txn_date=dt.date(2026, 1, 20)),
    ):
        _check_order(fromstring(qbxml.fragment(rq).encode()))


def _payment(**changes) -> BooksPayment:
    fields = {
        "local_id": 42,
        "invoice_local_id": 1,
        "invoice_number": "INV-0001",
        "customer": CustomerRef(name="A"),
        "amount": Decimal("12.5"),
        "txn_date": dt.date(2026, 1, 20),
        "method": "Check",
        "reference": "Check no. 000123456789 & more <x>",
    }
    return BooksPayment(**{**fields, **changes})


def test_receive_payment_add_carries_the_invoice_txn_id_and_our_marker():
    rq = qbxml.receive_payment_add(_payment(), "r", customer_list_id="8-1", invoice_txn_id="1-2", company_id=3)
    add = fromstring(qbxml.fragment(rq).encode()).find("ReceivePaymentAdd")
    assert [child.tag for child in add] == [
        "CustomerRef",
        "TxnDate",
        "RefNumber",
        "TotalAmount",
        "Memo",
        "AppliedToTxnAdd",
    ]
    assert add.find("CustomerRef/ListID").text == "8-1"
    assert add.find("RefNumber").text == "Check no. 0001234567"  # 20 characters, Desktop's limit for a payment
    assert (add.find("TotalAmount").text, add.find("AppliedToTxnAdd/PaymentAmount").text) == ("12.50", "12.50")
    assert add.find("AppliedToTxnAdd/TxnID").text == "1-2"
    assert add.find("Memo").text.startswith("[attune:3:p42] Check for invoice INV-0001")


def test_a_payment_is_removed_with_txn_del_not_txn_void():
    rq = fromstring(qbxml.fragment(qbxml.receive_payment_del("r", txn_id="5-6")).encode())
    assert rq.tag == "TxnDelRq"
    assert [(child.tag, child.text) for child in rq] == [("TxnDelType", "ReceivePayment"), ("TxnID", "5-6")]


def test_the_sales_tax_item_sits_between_ship_method_and_memo_and_codes_are_per_line():
    tax = qbxml.DesktopTax(item="CA Sales Tax", taxable_code="TX", non_taxable_code="NT")
    add = fromstring(qbxml.fragment(qbxml.invoice_add(_invoice(), "r", tax=tax)).encode()).find("InvoiceAdd")
    tags = [child.tag for child in add]
    assert tags.index("DueDate") < tags.index("ItemSalesTaxRef") < tags.index("Memo")
    assert add.find("ItemSalesTaxRef/FullName").text == "CA Sales Tax"
    assert add.find("InvoiceLineAdd/SalesTaxCodeRef/FullName").text == "TX"


def test_the_order_check_itself_catches_a_swap():
    swapped = fromstring(
        b"<InvoiceAdd><TxnDate>2026-01-01</TxnDate><CustomerRef><FullName>A</FullName></CustomerRef></InvoiceAdd>"
    )
    with pytest.raises(ParseRefused):
        _check_order(swapped)
    assert "InvoiceLineAdd" in ORDER["InvoiceAdd"]


def test_invoice_mod_replaces_every_line_and_carries_the_edit_sequence():
    mod = fromstring(qbxml.fragment(qbxml.invoice_mod(_invoice(), "r", txn_id="1-2", edit_sequence="17")).encode())
    body = mod.find("InvoiceMod")
    assert [child.tag for child in body][:2] == ["TxnID", "EditSequence"]
    assert body.find("EditSequence").text == "17"
    assert [line.find("TxnLineID").text for line in body.findall("InvoiceLineMod")] == ["-1"]


def test_long_names_are_cut_to_desktop_limits():
    add = fromstring(qbxml.fragment(qbxml.customer_add(_customer("N" * 60), "r")).encode())
    assert len(add.find("CustomerAdd/Name").text) == 41


def test_the_response_parser_refuses_a_doctype():
    with pytest.raises(DesktopProtocolError) as refused:
        parse_response('<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY x "y">]><QBXML><QBXMLMsgsRs/></QBXML>')
    assert refused.value.reason == "doctype"


def test_the_response_parser_reads_statuses_and_refs():
    answers = parse_response(
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        '<InvoiceAddRs requestID="a" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<InvoiceRet><TxnID>1-2</TxnID><EditSequence>99</EditSequence><RefNumber>INV-1</RefNumber></InvoiceRet>"
        "</InvoiceAddRs>"
        '<CustomerAddRs requestID="b" statusCode="3100" statusSeverity="Error" '
        'statusMessage="The name &quot;A &amp; B&quot; is in use."/>'
        "</QBXMLMsgsRs></QBXML>"
    )
    assert [(a.kind, a.request_id, a.status_code, a.ok) for a in answers] == [
        ("InvoiceAdd", "a", "0", True),
        ("CustomerAdd", "b", "3100", False),
    ]
    assert (answers[0].rets[0].txn_id, answers[0].rets[0].edit_sequence) == ("1-2", "99")
    assert answers[1].status_message == 'The name "A & B" is in use.'


def test_not_qbxml_is_refused_with_a_reason():
    with pytest.raises(DesktopProtocolError) as refused:
        parse_response("<html/>")
    assert refused.value.reason == "not_qbxml"
    with pytest.raises(DesktopProtocolError) as refused:
        parse_response("<QBXML><unclosed>")
    assert refused.value.reason == "malformed"
