"""qbXML answers, parsed into typed results (the hardened parser: no DOCTYPE, no entities)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from integrations.quickbooks.desktop.exceptions import DesktopProtocolError
from integrations.quickbooks.desktop.xmlsafe import child, child_text, local_name, parse_xml


@dataclass(frozen=True)
class AppliedTo:
    txn_id: str
    ref_number: str
    amount: Decimal


@dataclass(frozen=True)
class Ret:
    """One `*Ret` object: a list object (ListID) or a transaction (TxnID)."""

    kind: str  # e.g. CustomerRet, InvoiceRet, ItemServiceRet, ReceivePaymentRet
    list_id: str = ""
    txn_id: str = ""
    edit_sequence: str = ""
    full_name: str = ""
    ref_number: str = ""
    txn_date: str = ""
    customer_name: str = ""
    total_amount: Decimal | None = None
    memo: str = ""
    tax_rate: Decimal | None = None  # ItemSalesTaxRet: the rate in percent
    applied_to: tuple[AppliedTo, ...] = ()


@dataclass(frozen=True)
class Answer:
    """One `*Rs` of a qbXML response: which request it answers and how it went."""

    kind: str  # e.g. InvoiceAdd (the Rs tag without "Rs")
    request_id: str
    status_code: str
    status_severity: str
    status_message: str
    rets: tuple[Ret, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status_code == "0"


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _ret(element) -> Ret:
    applied = tuple(
        AppliedTo(
            txn_id=child_text(item, "TxnID"),
            ref_number=child_text(item, "RefNumber"),
            amount=_decimal(child_text(item, "PaymentAmount") or child_text(item, "Amount")) or Decimal("0"),
        )
        for item in element
        if local_name(item.tag) == "AppliedToTxnRet"
    )
    return Ret(
        kind=local_name(element.tag),
        list_id=child_text(element, "ListID"),
        txn_id=child_text(element, "TxnID"),
        edit_sequence=child_text(element, "EditSequence"),
        full_name=child_text(element, "FullName") or child_text(element, "Name"),
        ref_number=child_text(element, "RefNumber"),
        txn_date=child_text(element, "TxnDate"),
        customer_name=child_text(child(element, "CustomerRef"), "FullName"),
        total_amount=_decimal(child_text(element, "TotalAmount")),
        memo=child_text(element, "Memo"),
        tax_rate=_decimal(child_text(element, "TaxRate")),
        applied_to=applied,
    )


def parse_response(text: str) -> list[Answer]:
    """Every `*Rs` in a qbXML response, in document order."""
    root = parse_xml(text, what="qbXML response")
    messages = child(root, "QBXMLMsgsRs")
    if local_name(root.tag) != "QBXML" or messages is None:
        raise DesktopProtocolError("The qbXML response has no QBXML/QBXMLMsgsRs.", reason="not_qbxml")
    answers = []
    for rs in messages:
        tag = local_name(rs.tag)
        answers.append(
            Answer(
                kind=tag[:-2] if tag.endswith("Rs") else tag,
                request_id=rs.get("requestID", ""),
                status_code=rs.get("statusCode", ""),
                status_severity=rs.get("statusSeverity", ""),
                status_message=rs.get("statusMessage", ""),
                rets=tuple(_ret(item) for item in rs if local_name(item.tag).endswith("Ret")),
            )
        )
    return answers
