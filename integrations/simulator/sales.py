"""Invoices and payments: Intuit's business rules for them, line totals and tax (QBO-REFERENCE §2.3, §5).

Builders take the request's fields (already merged with the stored object for sparse updates) and
return the body to store plus the indexed columns; they raise `ApiFault` for anything Intuit refuses.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from . import faults
from .models import SimCompany, SimControl, SimEntity, TaxStyle
from .seed import AST_OUT_OF_STATE, AST_STATE_RATES
from .store import as_number, cents, find, is_empty, money, prune, ref, save_entity

DOC_NUMBER_MAX = 21
PRIVATE_NOTE_MAX = 4000
FIRST_DOC_NUMBER = 1001
DEFAULT_TERMS_DAYS = 30
US_LINE_CODES = ("TAX", "NON")
GLOBAL_TAX_CALCULATIONS = ("TaxExcluded", "TaxInclusive", "NotApplicable")
EMAIL_STATUSES = ("NotSet", "NeedToSend", "EmailSent")
PRINT_STATUSES = ("NotSet", "NeedToPrint", "PrintComplete")
CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "GBP": "British Pound Sterling",
    "EUR": "Euro",
    "AUD": "Australian Dollar",
}
# Writable invoice fields stored as sent (no rule of ours applies to them).
INVOICE_PASSTHROUGH = (
    "CustomerMemo",
    "BillEmail",
    "BillEmailCc",
    "BillEmailBcc",
    "BillAddr",
    "ShipAddr",
    "ShipFromAddr",
    "SalesTermRef",
    "ClassRef",
    "DepartmentRef",
    "TrackingNum",
    "ShipDate",
    "ShipMethodRef",
    "AllowOnlinePayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
    "AllowIPNPayment",
    "CustomField",
    "DeliveryInfo",
    "TxnSource",
    "ApplyTaxAfterDiscount",
)
PAYMENT_PASSTHROUGH = ("PaymentMethodRef", "ARAccountRef", "TxnSource", "CustomField")


def company_today(company: SimCompany) -> date:
    return timezone.now().astimezone(ZoneInfo(company.time_zone)).date()


def _ref_value(data: dict, key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, dict) and value.get("value") not in (None, ""):
        return str(value["value"])
    return None


def active_reference(company: SimCompany, entity_type: str, value: str | None, element: str) -> SimEntity:
    """The referenced name-list object: 2020 if absent, 2500 if unknown, 610 if inactive."""
    if value is None:
        raise faults.required_param(element)
    entity = find(company, entity_type, value)
    if entity is None or entity.deleted:
        raise faults.invalid_reference(entity_type, value, element)
    if not entity.active:
        raise faults.object_inactive(element)
    return entity


def _date(data: dict, key: str, default: date) -> str:
    value = data.get(key)
    if value in (None, ""):
        return default.isoformat()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise faults.business_validation(f"Invalid date for {key}: {value}", key) from None


def _amount(value, element: str) -> Decimal:
    if value is None:
        raise faults.required_param(element)
    try:
        return money(value)
    except ValueError:
        raise faults.business_validation(f"{element} must be a number", element) from None


def _text(data: dict, key: str, maximum: int) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    value = str(value)
    if len(value) > maximum:
        raise faults.string_length(key, maximum, len(value))
    return value


def _currency(company: SimCompany, data: dict, customer: SimEntity) -> tuple[str, Decimal]:
    customer_currency = (customer.body.get("CurrencyRef") or {}).get("value") or company.home_currency
    currency = _ref_value(data, "CurrencyRef") or customer_currency
    if currency != company.home_currency and not company.multicurrency_enabled:
        raise faults.business_validation("Multicurrency is not enabled for this company", "CurrencyRef")
    if currency != customer_currency:
        raise faults.business_validation(
            f"The transaction currency ({currency}) must match the customer's currency ({customer_currency})",
            "CurrencyRef",
        )
    if currency == company.home_currency:
        return currency, Decimal(1)
    rate = data.get("ExchangeRate")
    return currency, (_amount(rate, "ExchangeRate") if rate is not None else Decimal(1))


def _tax_rate(company: SimCompany, rate_id: str) -> Decimal:
    rate = find(company, "TaxRate", rate_id)
    return money(rate.body.get("RateValue", 0)) if rate else Decimal(0)


def _code_rate_ids(code: SimEntity) -> list[str]:
    details = (code.body.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    return [str(d["TaxRateRef"]["value"]) for d in details]


def _line_tax_code(company: SimCompany, detail: dict) -> str:
    """Check a line's TaxCodeRef the way the company's country requires."""
    value = _ref_value(detail, "TaxCodeRef")
    if company.tax_style == TaxStyle.US:
        if value is None:
            return "NON"
        if value not in US_LINE_CODES:
            raise faults.invalid_us_line_tax_code(value)
        return value
    if value is None:
        what = "VAT" if company.country == "GB" else "GST/HST" if company.country == "CA" else "tax"
        raise faults.business_validation(
            f"Make sure all your transactions have a {what} rate before you save.", "TaxCodeRef"
        )
    active_reference(company, "TaxCode", value, "TaxCodeRef")
    return value


def _build_lines(company: SimCompany, raw_lines) -> list[dict]:
    if not isinstance(raw_lines, list) or not raw_lines:
        raise faults.required_param("Line")
    used_ids = {str(line.get("Id")) for line in raw_lines if isinstance(line, dict) and line.get("Id")}
    next_id = max([int(i) for i in used_ids if i.isdigit()] or [0]) + 1
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise faults.malformed_request("Each Line must be an object")
        detail_type = raw.get("DetailType")
        if detail_type == "SubTotalLineDetail":
            continue  # recomputed
        if detail_type not in ("SalesItemLineDetail", "DescriptionOnly"):
            raise faults.invalid_enumeration("Line.DetailType", detail_type)
        line_id = str(raw.get("Id")) if raw.get("Id") else None
        if line_id is None:
            line_id = str(next_id)
            next_id += 1
        line = {"Id": line_id, "LineNum": len(lines) + 1}
        if raw.get("Description") is not None:
            line["Description"] = _text(raw, "Description", 4000)
        if detail_type == "DescriptionOnly":
            line.update(
                {
                    "Amount": 0,
                    "DetailType": "DescriptionOnly",
                    "DescriptionLineDetail": prune(raw.get("DescriptionLineDetail") or {}),
                }
            )
            lines.append(line)
            continue
        detail = raw.get("SalesItemLineDetail") or {}
        amount = _amount(raw.get("Amount"), "Line.Amount")
        item = active_reference(company, "Item", _ref_value(detail, "ItemRef"), "ItemRef")
        qty = _amount(detail["Qty"], "Qty") if detail.get("Qty") is not None else None
        unit_price = (
            _amount(detail["UnitPrice"], "UnitPrice") if detail.get("UnitPrice") is not None else None
        )
        if qty is not None and unit_price is not None:
            if amount != cents(qty * unit_price):
                raise faults.amount_mismatch(raw.get("Amount"))
        elif qty is not None and qty != 0:
            unit_price = amount / qty
        out_detail = {"ItemRef": ref(item), "TaxCodeRef": {"value": _line_tax_code(company, detail)}}
        if item.body.get("IncomeAccountRef"):
            out_detail["ItemAccountRef"] = item.body["IncomeAccountRef"]
        if qty is not None:
            out_detail["Qty"] = as_number(qty)
        if unit_price is not None:
            out_detail["UnitPrice"] = as_number(unit_price)
        if detail.get("ServiceDate"):
            out_detail["ServiceDate"] = _date(detail, "ServiceDate", company_today(company))
        line.update(
            {
                "Amount": as_number(amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": out_detail,
            }
        )
        lines.append(line)
    if not any(line["DetailType"] == "SalesItemLineDetail" for line in lines):
        raise faults.business_validation("You must set a transaction amount.", "Line")
    return lines


TAX_ROUNDINGS = {"half_up": ROUND_HALF_UP, "down": ROUND_DOWN}


def _round_tax(value: Decimal) -> Decimal:
    """Computed tax to cents, the way the `tax_rounding` control switch says (half up unless switched)."""
    mode = SimControl.objects.filter(pk=1).values_list("tax_rounding", flat=True).first() or "half_up"
    return value.quantize(Decimal("0.01"), rounding=TAX_ROUNDINGS.get(mode, ROUND_HALF_UP))


def _tax_lines(rates: dict[str, tuple[Decimal, Decimal]], mode: str) -> tuple[Decimal, list[dict]]:
    """Tax per rate on its taxable base, rounded per rate. `rates`: rate id -> (percent, base)."""
    total = Decimal(0)
    tax_lines = []
    for rate_id, (percent, base) in rates.items():
        if mode == "TaxInclusive":
            tax = _round_tax(base * percent / (100 + percent))
            net = base - tax
        elif mode == "NotApplicable":
            tax, net = Decimal(0), base
        else:
            tax, net = _round_tax(base * percent / 100), base
        total += tax
        tax_lines.append(
            {
                "Amount": as_number(tax),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate_id},
                    "PercentBased": True,
                    "TaxPercent": as_number(percent),
                    "NetAmountTaxable": as_number(cents(net)),
                },
            }
        )
    return total, tax_lines


def _fixed_tax_lines(rates: list[tuple[str, Decimal]], base: Decimal, total: Decimal) -> list[dict]:
    """A given total tax prorated across rates by their percent (the last rate takes the rounding rest)."""
    percent_sum = sum((percent for _, percent in rates), Decimal(0))
    tax_lines, left = [], total
    for index, (rate_id, percent) in enumerate(rates):
        if index == len(rates) - 1:
            amount = left
        elif percent_sum:
            amount = cents(total * percent / percent_sum)
        else:
            amount = Decimal(0)
        left -= amount
        tax_lines.append(
            {
                "Amount": as_number(amount),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate_id},
                    "PercentBased": True,
                    "TaxPercent": as_number(percent),
                    "NetAmountTaxable": as_number(cents(base)),
                },
            }
        )
    return tax_lines


def _state_of(address) -> str:
    if not isinstance(address, dict):
        return ""
    return str(address.get("CountrySubDivisionCode") or "").strip().upper()


def ast_tax_code(company: SimCompany, data: dict, customer: SimEntity) -> SimEntity:
    """The tax code Automated Sales Tax assigns: by the state of the invoice's ShipAddr, else its BillAddr,
    else the customer's BillAddr, else the company address (AST_STATE_RATES; other states: no tax)."""
    state = (
        _state_of(data.get("ShipAddr"))
        or _state_of(data.get("BillAddr"))
        or _state_of(customer.body.get("BillAddr"))
        or company.region.upper()
    )
    spec = AST_STATE_RATES.get(state, AST_OUT_OF_STATE)
    return find(company, "TaxCode", spec["code_id"])


def _given_total_tax(data: dict) -> Decimal | None:
    value = (data.get("TxnTaxDetail") or {}).get("TotalTax")
    if value is None or value == "":
        return None
    total = _amount(value, "TxnTaxDetail.TotalTax")
    if total < 0:
        raise faults.business_validation("TotalTax can't be negative.", "TxnTaxDetail.TotalTax")
    return cents(total)


def _invoice_tax(
    company: SimCompany, data: dict, lines: list[dict], customer: SimEntity
) -> tuple[dict, Decimal, str | None]:
    """TxnTaxDetail, total tax, and GlobalTaxCalculation (None for US companies)."""
    sales_lines = [line for line in lines if line["DetailType"] == "SalesItemLineDetail"]
    rates: dict[str, tuple[Decimal, Decimal]] = {}
    txn_tax_detail: dict = {}
    if company.tax_style == TaxStyle.US:
        mode = None
        base = sum(
            (
                money(line["Amount"])
                for line in sales_lines
                if line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
            ),
            Decimal(0),
        )
        if company.automated_sales_tax:
            # AST assigns the code (whatever TxnTaxCodeRef says) and computes the tax, unless the request
            # gives TotalTax, which is honoured and prorated across the code's rates (QBO-REFERENCE §5.1).
            code = ast_tax_code(company, data, customer)
            txn_tax_detail["TxnTaxCodeRef"] = {"value": code.entity_id}
            given = _given_total_tax(data)
            if given is not None:
                rate_list = [(rate_id, _tax_rate(company, rate_id)) for rate_id in _code_rate_ids(code)]
                tax_lines = _fixed_tax_lines(rate_list, base, given)
                txn_tax_detail.update({"TotalTax": as_number(given), "TaxLine": tax_lines})
                return txn_tax_detail, given, None
            for rate_id in _code_rate_ids(code):
                rates[rate_id] = (_tax_rate(company, rate_id), base)
        else:
            code_id = _ref_value(data.get("TxnTaxDetail") or {}, "TxnTaxCodeRef")
            if code_id is not None:
                if code_id in US_LINE_CODES:
                    raise faults.invalid_reference("TaxCode", code_id, "TxnTaxCodeRef")
                code = active_reference(company, "TaxCode", code_id, "TxnTaxCodeRef")
                txn_tax_detail["TxnTaxCodeRef"] = {"value": code.entity_id}
                for rate_id in _code_rate_ids(code):
                    rates[rate_id] = (_tax_rate(company, rate_id), base)
    else:
        mode = data.get("GlobalTaxCalculation") or "TaxExcluded"
        if mode not in GLOBAL_TAX_CALCULATIONS:
            raise faults.invalid_enumeration("GlobalTaxCalculation", mode)
        for line in sales_lines:
            code = find(company, "TaxCode", line["SalesItemLineDetail"]["TaxCodeRef"]["value"])
            for rate_id in _code_rate_ids(code):
                percent, base = rates.get(rate_id, (_tax_rate(company, rate_id), Decimal(0)))
                rates[rate_id] = (percent, base + money(line["Amount"]))
    total_tax, tax_lines = _tax_lines(rates, mode or "TaxExcluded")
    txn_tax_detail["TotalTax"] = as_number(total_tax)
    if tax_lines:
        txn_tax_detail["TaxLine"] = tax_lines
    return txn_tax_detail, total_tax, mode


def _next_doc_number(company: SimCompany) -> str:
    numbers = [
        int(d)
        for d in SimEntity.objects.filter(company=company, entity_type="Invoice")
        .exclude(doc_number="")
        .values_list("doc_number", flat=True)
        if d.isdigit()
    ]
    return str(max(numbers + [FIRST_DOC_NUMBER - 1]) + 1)


def build_invoice(
    company: SimCompany, data: dict, *, existing: SimEntity | None, allow_duplicate_doc_number: bool = False
) -> tuple[dict, dict]:
    customer = active_reference(company, "Customer", _ref_value(data, "CustomerRef"), "CustomerRef")
    if "Line" not in data:
        raise faults.required_param("Line")
    doc_number = data.get("DocNumber")
    if doc_number in (None, "", "AUTO_GENERATE"):
        doc_number = existing.doc_number if existing and existing.doc_number else _next_doc_number(company)
    doc_number = str(doc_number)
    if len(doc_number) > DOC_NUMBER_MAX:
        raise faults.string_length("DocNumber", DOC_NUMBER_MAX, len(doc_number))
    private_note = _text(data, "PrivateNote", PRIVATE_NOTE_MAX)
    lines = _build_lines(company, data.get("Line"))
    txn_tax_detail, total_tax, mode = _invoice_tax(company, data, lines, customer)
    currency, exchange_rate = _currency(company, data, customer)
    subtotal = sum((money(line["Amount"]) for line in lines), Decimal(0))
    total = subtotal if mode == "TaxInclusive" else subtotal + total_tax
    applied = money(existing.body.get("_applied", 0)) if existing else Decimal(0)
    if total < applied:
        raise faults.business_validation(
            "The invoice total can't be less than the payments applied to it.", "TotalAmt"
        )
    for key, allowed in (("EmailStatus", EMAIL_STATUSES), ("PrintStatus", PRINT_STATUSES)):
        if data.get(key) is not None and data[key] not in allowed:
            raise faults.invalid_enumeration(key, data[key])
    if not allow_duplicate_doc_number:
        clash = (
            SimEntity.objects.filter(
                company=company, entity_type="Invoice", doc_number=doc_number, deleted=False
            )
            .exclude(pk=existing.pk if existing else None)
            .first()
        )
        if clash is not None:
            raise faults.duplicate_doc_number(doc_number, clash.entity_id)
    txn_date = _date(data, "TxnDate", company_today(company))
    due_default = date.fromisoformat(txn_date) + timedelta(days=DEFAULT_TERMS_DAYS)
    body = {key: prune(data[key]) for key in INVOICE_PASSTHROUGH if not is_empty(data.get(key))}
    body.update(
        {
            "DocNumber": doc_number,
            "TxnDate": txn_date,
            "DueDate": _date(data, "DueDate", due_default),
            "CurrencyRef": {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)},
            "CustomerRef": ref(customer),
            "Line": lines
            + [{"Amount": as_number(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}],
            "TxnTaxDetail": txn_tax_detail,
            "TotalAmt": as_number(total),
            "Balance": as_number(total - applied),
            "EmailStatus": data.get("EmailStatus") or "NotSet",
            "PrintStatus": data.get("PrintStatus") or "NotSet",
            "LinkedTxn": (existing.body.get("LinkedTxn") if existing else None) or [],
            "_applied": str(applied),
        }
    )
    if private_note is not None:
        body["PrivateNote"] = private_note
    if mode is not None:
        body["GlobalTaxCalculation"] = mode
    if company.multicurrency_enabled:
        body["ExchangeRate"] = as_number(exchange_rate)
        body["HomeTotalAmt"] = as_number(cents(total * exchange_rate))
        body["HomeBalance"] = as_number(cents((total - applied) * exchange_rate))
    columns = {"doc_number": doc_number, "customer_ref": customer.entity_id}
    return body, columns


def void_invoice(invoice: SimEntity) -> SimEntity:
    if money(invoice.body.get("_applied", 0)) > 0:
        raise faults.business_validation(
            "This invoice has payments applied to it. Delete the payments before voiding it."
        )
    body = dict(invoice.body)
    body["Line"] = [{**line, "Amount": 0} for line in body.get("Line", [])]
    body["TxnTaxDetail"] = {
        **{k: v for k, v in body.get("TxnTaxDetail", {}).items() if k != "TaxLine"},
        "TotalTax": 0,
    }
    body.update({"TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided"})
    if "HomeTotalAmt" in body:
        body.update({"HomeTotalAmt": 0, "HomeBalance": 0})
    invoice.voided = True
    return save_entity(invoice, body, event="Void")


def _apply_to_invoice(invoice: SimEntity, payment_id: str, amount: Decimal, *, now: datetime) -> None:
    """Change an invoice's open balance by a payment; bumps its SyncToken as QBO does (§0 #9)."""
    body = dict(invoice.body)
    applied = money(body.get("_applied", 0)) + amount
    total = money(body["TotalAmt"])
    body["_applied"] = str(applied)
    body["Balance"] = as_number(total - applied)
    if "HomeBalance" in body:
        body["HomeBalance"] = as_number(cents((total - applied) * money(body.get("ExchangeRate", 1))))
    links = [link for link in body.get("LinkedTxn", []) if link.get("TxnId") != payment_id]
    if amount > 0:
        links.append({"TxnId": payment_id, "TxnType": "Payment"})
    body["LinkedTxn"] = links
    save_entity(invoice, body, now=now)


def build_payment(company: SimCompany, data: dict) -> tuple[dict, dict, dict[str, Decimal]]:
    """Body, columns, and the amount to apply to each invoice id."""
    customer = active_reference(company, "Customer", _ref_value(data, "CustomerRef"), "CustomerRef")
    total = _amount(data.get("TotalAmt"), "TotalAmt")
    if total < 0:
        raise faults.business_validation("The payment amount can't be negative.", "TotalAmt")
    payment_ref_num = _text(data, "PaymentRefNum", DOC_NUMBER_MAX)
    private_note = _text(data, "PrivateNote", PRIVATE_NOTE_MAX)
    currency, exchange_rate = _currency(company, data, customer)
    raw_lines = data.get("Line") or []
    if not isinstance(raw_lines, list):
        raise faults.malformed_request("Line must be a list")
    to_apply: dict[str, Decimal] = {}
    lines = []
    for raw in raw_lines:
        amount = _amount((raw or {}).get("Amount"), "Line.Amount")
        links = raw.get("LinkedTxn") or []
        if not links:
            raise faults.required_param("Line.LinkedTxn")
        out_links = []
        for link in links:
            txn_id, txn_type = str(link.get("TxnId", "")), link.get("TxnType")
            if txn_type != "Invoice":
                raise faults.business_validation(
                    f"The simulator only applies payments to invoices (TxnType={txn_type})", "LinkedTxn"
                )
            invoice = find(company, "Invoice", txn_id)
            if invoice is None or invoice.deleted:
                raise faults.invalid_reference("Invoice", txn_id, "LinkedTxn.TxnId")
            if invoice.voided:
                raise faults.business_validation(f"Invoice {txn_id} is void.", "LinkedTxn")
            if invoice.customer_ref != customer.entity_id:
                raise faults.business_validation(
                    f"Invoice {txn_id} belongs to another customer.", "LinkedTxn"
                )
            to_apply[txn_id] = to_apply.get(txn_id, Decimal(0)) + amount
            if to_apply[txn_id] > money(invoice.body["Balance"]):
                raise faults.business_validation(
                    f"The amount applied to invoice {txn_id} is more than its open balance.", "Line.Amount"
                )
            out_links.append({"TxnId": txn_id, "TxnType": "Invoice"})
        lines.append({"Amount": as_number(amount), "LinkedTxn": out_links})
    applied_total = sum(to_apply.values(), Decimal(0))
    if applied_total > total:
        raise faults.business_validation("The amounts applied are more than the payment total.", "TotalAmt")
    deposit_id = _ref_value(data, "DepositToAccountRef")
    if deposit_id is None:
        deposit = SimEntity.objects.filter(
            company=company, entity_type="Account", body__AccountSubType="UndepositedFunds"
        ).first()
    else:
        deposit = active_reference(company, "Account", deposit_id, "DepositToAccountRef")
    body = {key: prune(data[key]) for key in PAYMENT_PASSTHROUGH if not is_empty(data.get(key))}
    body.update(
        {
            "TxnDate": _date(data, "TxnDate", company_today(company)),
            "CurrencyRef": {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)},
            "CustomerRef": ref(customer),
            "TotalAmt": as_number(total),
            "UnappliedAmt": as_number(total - applied_total),
            "ProcessPayment": False,
            "Line": lines,
        }
    )
    if deposit is not None:
        body["DepositToAccountRef"] = {"value": deposit.entity_id}
    if payment_ref_num is not None:
        body["PaymentRefNum"] = payment_ref_num
    if private_note is not None:
        body["PrivateNote"] = private_note
    if company.multicurrency_enabled:
        body["ExchangeRate"] = as_number(exchange_rate)
    return body, {"customer_ref": customer.entity_id}, to_apply


def apply_payment(company: SimCompany, payment: SimEntity, to_apply: dict[str, Decimal]) -> None:
    for invoice_id, amount in to_apply.items():
        _apply_to_invoice(
            find(company, "Invoice", invoice_id), payment.entity_id, amount, now=payment.updated_at
        )


def unapply_payment(company: SimCompany, payment: SimEntity) -> None:
    """Give the invoices back what this payment paid (payment deleted or voided)."""
    now = timezone.now()
    for line in payment.body.get("Line", []):
        for link in line.get("LinkedTxn", []):
            invoice = find(company, "Invoice", link["TxnId"])
            if invoice is not None and not invoice.deleted:
                _apply_to_invoice(invoice, payment.entity_id, -money(line["Amount"]), now=now)


PAYMENT_WRITABLE = (
    "CustomerRef",
    "TotalAmt",
    "TxnDate",
    "Line",
    "PaymentRefNum",
    "PrivateNote",
    "DepositToAccountRef",
    "CurrencyRef",
    "ExchangeRate",
    *PAYMENT_PASSTHROUGH,
)


def update_payment(company: SimCompany, payment: SimEntity, data: dict, *, sparse: bool) -> SimEntity:
    """Full or sparse update of a payment. `Line` replaces the payment's applications (QuickBooks keeps one
    line per invoice); the old applications are given back first, so the new amounts are checked against the
    invoices' open balances as they would be without this payment."""
    if payment.voided:
        raise faults.business_validation("This transaction has been voided and can't be changed.")
    incoming = {key: data[key] for key in PAYMENT_WRITABLE if key in data}
    if sparse:
        stored = {key: payment.body[key] for key in PAYMENT_WRITABLE if key in payment.body}
        merged = {**stored, **{key: value for key, value in incoming.items() if not is_empty(value)}}
    else:
        merged = incoming  # full: what is not sent is cleared (and required fields are checked again)
    unapply_payment(company, payment)
    body, columns, to_apply = build_payment(company, merged)
    saved = save_entity(payment, body, columns=columns)
    apply_payment(company, saved, to_apply)
    return saved


def void_payment(company: SimCompany, payment: SimEntity) -> SimEntity:
    unapply_payment(company, payment)
    body = dict(payment.body)
    body["Line"] = [{**line, "Amount": 0} for line in body.get("Line", [])]
    body.update({"TotalAmt": 0, "UnappliedAmt": 0, "PrivateNote": "Voided"})
    payment.voided = True
    return save_entity(payment, body, event="Void")
