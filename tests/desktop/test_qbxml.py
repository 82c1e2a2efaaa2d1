"""The qbXML renderer and parser on their own: escaping, element order, limits, and the hardened parser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from defusedxml.ElementTree import fromstring

from integrations.books.document import Address, BooksCustomer, BooksInvoice, BooksLine, CustomerRef, ItemRef
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
    ):
        _check_order(fromstring(qbxml.fragment(rq).encode()))


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
