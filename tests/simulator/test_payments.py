"""Payments apply to invoices, change their Balance and bump their SyncToken (QBO-REFERENCE §0 #9)."""

from __future__ import annotations

import json

import pytest

from .conftest import US_REALM_ID, fault_code, sales_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(api):
    customer = api.create_customer("Paying Customer")
    return api.create_invoice(customer["Id"], lines=[sales_line(amount=300, qty=2, unit_price=150)])


def pay(api, invoice, amount, total=None, **fields):
    return api.post(
        "payment",
        {
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": total if total is not None else amount,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
            **fields,
        },
    )


def test_partial_payment_updates_balance_and_bumps_invoice_sync_token(api, invoice):
    response = pay(api, invoice, 100, PaymentRefNum="CHK-1")
    assert response.status_code == 200, response.content
    payment = response.json()["Payment"]
    assert payment["TotalAmt"] == 100.0 and payment["UnappliedAmt"] == 0
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    assert payment["DepositToAccountRef"] == {"value": "4"}
    after = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after["Balance"] == 200.0 and after["TotalAmt"] == 300.0
    assert after["SyncToken"] == "1"
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    # The client's cached SyncToken is now stale.
    stale = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert fault_code(stale) == "5010"
    assert api.get(f"payment/{payment['Id']}").json()["Payment"] == payment


def test_unapplied_amount_and_overpayment_rules(api, invoice):
    payment = pay(api, invoice, 50, total=80).json()["Payment"]
    assert payment["UnappliedAmt"] == 30.0
    too_much = pay(api, invoice, 251)
    assert too_much.status_code == 400 and fault_code(too_much) == "6000"
    more_than_total = pay(api, invoice, 10, total=5)
    assert fault_code(more_than_total) == "6000"


def test_payment_validation(api, invoice):
    assert fault_code(api.post("payment", {"TotalAmt": 5})) == "2020"
    assert fault_code(api.post("payment", {"CustomerRef": invoice["CustomerRef"]})) == "2020"
    ghost = dict(invoice, Id="999")
    assert fault_code(pay(api, ghost, 5)) == "2500"
    other = api.create_customer("Someone Else")
    wrong_customer = api.post(
        "payment",
        {
            "CustomerRef": {"value": other["Id"]},
            "TotalAmt": 5,
            "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert fault_code(wrong_customer) == "6000"


def test_payment_query_and_delete_restores_balance(api, invoice):
    payment = pay(api, invoice, 300).json()["Payment"]
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 0
    rows = api.query(f"select * from Payment where CustomerRef = '{invoice['CustomerRef']['value']}'").json()
    assert rows["QueryResponse"]["Payment"][0]["Id"] == payment["Id"]
    blocked = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "1"}, params={"operation": "void"})
    assert fault_code(blocked) == "6000"
    deleted = api.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert deleted.status_code == 200
    after = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after["Balance"] == 300.0 and after["SyncToken"] == "2" and after["LinkedTxn"] == []


def test_void_payment(api, invoice):
    payment = pay(api, invoice, 120).json()["Payment"]
    response = api.post(
        "payment",
        {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
        params={"operation": "update", "include": "void"},
    )
    assert response.status_code == 200
    assert response.json()["Payment"]["TotalAmt"] == 0
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 300.0


def test_payment_update_replaces_its_applications_and_is_checked_like_a_create(api, invoice):
    payment = pay(api, invoice, 10).json()["Payment"]
    # A full update clears what it does not send: without CustomerRef it is refused (2020), and nothing changes.
    response = api.post("payment", {"Id": payment["Id"], "SyncToken": "0", "TotalAmt": 20})
    assert fault_code(response) == "2020"
    # A sparse update keeps the rest; its Line replaces the old application (one line per invoice).
    line = {"Amount": 25, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    response = api.post(
        "payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "TotalAmt": 30, "Line": [line]}
    )
    assert response.status_code == 200, response.text
    updated = response.json()["Payment"]
    assert (updated["TotalAmt"], updated["UnappliedAmt"], updated["SyncToken"]) == (30.0, 5.0, "1")
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 275.0  # 300 − 25, not − 35
    too_much = {"Amount": 400, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    response = api.post(
        "payment", {"Id": payment["Id"], "SyncToken": "1", "sparse": True, "TotalAmt": 400, "Line": [too_much]}
    )
    assert fault_code(response) == "6000"  # more than the invoice's open balance
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 275.0  # the refusal undid nothing


def test_payment_is_voided_by_the_update_form_only(api, invoice):
    payment = pay(api, invoice, 10).json()["Payment"]
    response = api.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, params={"operation": "void"})
    assert fault_code(response) == "500"  # the invoice's form: Intuit voids payments by update&include=void
    response = api.post(
        "payment",
        {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
        params={"operation": "update", "include": "void"},
    )
    assert response.status_code == 200 and response.json()["Payment"]["TotalAmt"] == 0


def test_receive_payment_button_pays_the_open_balance(client, api, invoice):
    response = client.post(f"/simulator/companies/{US_REALM_ID}/invoices/{invoice['Id']}/receive-payment")
    assert response.status_code == 302
    after = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after["Balance"] == 0 and after["SyncToken"] == "1"
    payments = api.query("select * from Payment").json()["QueryResponse"]["Payment"]
    assert payments[0]["TotalAmt"] == 300.0
    # Nothing left to pay: a second click is refused with a message, not an error page.
    again = client.post(f"/simulator/companies/{US_REALM_ID}/invoices/{invoice['Id']}/receive-payment", follow=True)
    assert "refused" in again.content.decode()


def test_control_api_receives_a_partial_payment(client, api, invoice):
    url = f"/simulator/control/companies/{US_REALM_ID}/invoices/{invoice['Id']}/payment"
    response = client.post(url, json.dumps({"amount": "45.50"}), content_type="application/json")
    assert response.status_code == 201
    assert response.json()["Payment"]["TotalAmt"] == 45.5
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 254.5
    missing = client.post(f"/simulator/control/companies/{US_REALM_ID}/invoices/999/payment")
    assert missing.status_code == 400


def test_paid_invoice_total_cannot_drop_below_payments(api, invoice):
    pay(api, invoice, 200)
    response = api.post(
        "invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": "1",
            "sparse": True,
            "Line": [sales_line(amount=150, qty=1, unit_price=150)],
        },
    )
    assert fault_code(response) == "6000"
    ok = api.post(
        "invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": "1",
            "sparse": True,
            "Line": [sales_line(amount=450, qty=3, unit_price=150)],
        },
    )
    assert ok.json()["Invoice"]["Balance"] == 250.0
