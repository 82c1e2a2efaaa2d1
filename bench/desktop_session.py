"""Benchmark: one Web Connector run that carries N invoices to QuickBooks Desktop (prints figures; not a test).

    .venv/bin/python bench/desktop_session.py                      # fresh SQLite file, 500 invoices
    .venv/bin/python bench/desktop_session.py --invoices 2000
    .venv/bin/python bench/desktop_session.py --database-url postgres://postgres@127.0.0.1:5432/attune_qbo_bench

Seeds one company (20 clients, 3 lines an invoice), connects QuickBooks Desktop, queues every invoice, then plays
the Web Connector through the SOAP endpoint in-process (Django's test client): authenticate, sendRequestXML /
receiveResponseXML until 100 %, closeConnection. QuickBooks' side is a trivial answerer (every request OK), so
the figures are our own time: per invoice, per message, and database queries per invoice (DESIGN §9 asks
≤ 15 queries and ≤ 5 ms of our CPU per pushed invoice).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap:Body><{method} xmlns="http://developer.intuit.com/">{params}</{method}></soap:Body></soap:Envelope>'
)


def call(client, url: str, method: str, **params) -> ET.Element:
    body = "".join(f"<{name}>{value}</{name}>" for name, value in params.items())
    answer = client.post(url, ENVELOPE.format(method=method, params=body), content_type="text/xml")
    assert answer.status_code == 200, answer.content[:300]
    return ET.fromstring(answer.content).find(f".//{{http://developer.intuit.com/}}{method}Result")


def quickbooks_answers(request_text: str) -> str:
    """Every request OK, with an id and an EditSequence (what QuickBooks would return)."""
    root = ET.fromstring(request_text.encode())
    out = ET.Element("QBXML")
    rs_parent = ET.SubElement(out, "QBXMLMsgsRs")
    for number, rq in enumerate(root.find("QBXMLMsgsRq")):
        kind = rq.tag.removesuffix("Rq")
        rs = ET.SubElement(
            rs_parent,
            f"{kind}Rs",
            requestID=rq.get("requestID"),
            statusCode="0",
            statusSeverity="Info",
            statusMessage="Status OK",
        )
        if kind in ("CustomerAdd", "InvoiceAdd"):
            ret = ET.SubElement(rs, kind.replace("Add", "Ret"))
            ET.SubElement(ret, "ListID" if kind == "CustomerAdd" else "TxnID").text = f"{number:X}-{time.time_ns()}"
            ET.SubElement(ret, "EditSequence").text = "1700000000"
        elif kind == "ItemQuery":
            for name in ("Consulting", "Hosting", "Support"):
                ET.SubElement(ET.SubElement(rs, "ItemServiceRet"), "FullName").text = name
            # The rate's sales tax item (unmapped: named like the rate), which invoices name as ItemSalesTaxRef.
            tax_item = ET.SubElement(rs, "ItemSalesTaxRet")
            ET.SubElement(tax_item, "Name").text = "Sales tax"
            ET.SubElement(tax_item, "TaxRate").text = "8"
    return ET.tostring(out, encoding="unicode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-desktop-')}/bench.sqlite3"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": database_url,
            "QUICKBOOKS_ENVIRONMENT": "simulator",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
            "QUICKBOOKS_PUSH_DEBOUNCE_SECONDS": "0",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0, interactive=False)
    run(args.invoices, database_url)


def run(count: int, database_url: str) -> None:
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from attune_qbo.billing import services as billing
    from attune_qbo.billing.models import Client as BillingClient
    from attune_qbo.billing.models import Product, TaxRate
    from attune_qbo.billing.services import LineData
    from attune_qbo.tenants.models import Company, Membership, Role
    from integrations.models import QuickBooksSyncLog
    from integrations.quickbooks.desktop.services import desktop_connect

    user = get_user_model().objects.create_user("bench-admin", password="x")
    company = Company.objects.create(name="Bench Co", slug="bench-co")
    Membership.objects.create(user=user, company=company, role=Role.ADMIN)
    connection_row, password = desktop_connect(company=company, user=user)
    rate = TaxRate.objects.create(company=company, name="Sales tax", percent=Decimal("8"))
    products = [
        Product.objects.create(company=company, name=name, unit_price=Decimal("95.00"), default_tax_rate=rate)
        for name in ("Consulting", "Hosting", "Support")
    ]
    clients = [BillingClient.objects.create(company=company, display_name=f"Client {i:02d} & Sons") for i in range(20)]
    started = time.perf_counter()
    for i in range(count):
        invoice = billing.invoice_create(
            company=company,
            client=clients[i % 20],
            issue_date=dt.date(2026, 1, 15),
            due_date=dt.date(2026, 2, 14),
            lines=[LineData(product=product, quantity=i % 5 + 1) for product in products],
        )
        billing.invoice_finalize(invoice=invoice)
    print(f"seeded {count} invoices in {time.perf_counter() - started:.1f} s ({connection.vendor})")

    client = Client()
    url = reverse("integrations:quickbooks-desktop-qbwc")
    queries = [0]

    def tally(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    counting = connection.execute_wrapper(tally)
    counting.__enter__()
    wall, cpu = time.perf_counter(), time.process_time()
    ticket = call(client, url, "authenticate", strUserName=connection_row.username, strPassword=password)[0].text
    messages = 0
    quickbooks_cpu = 0.0
    while True:
        request = call(
            client,
            url,
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse="",
            strCompanyFileName="C.qbw",
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        ).text
        if not request:
            break
        messages += 1
        answered = time.process_time()
        response = quickbooks_answers(request)
        quickbooks_cpu += time.process_time() - answered
        escaped = response.replace("&", "&amp;").replace("<", "&lt;")
        percent = int(
            call(client, url, "receiveResponseXML", ticket=ticket, response=escaped, hresult="", message="").text
        )
        if percent >= 100 or percent < 0:
            break
    call(client, url, "closeConnection", ticket=ticket)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu - quickbooks_cpu
    counting.__exit__(None, None, None)
    queries = queries[0]
    done = QuickBooksSyncLog.objects.filter(company=company, status="succeeded").count()
    print(f"one Web Connector run: {done}/{count} invoices succeeded in {messages} messages")
    print(f"  wall time          {wall:8.2f} s    ({wall / count * 1000:.1f} ms an invoice)")
    print(f"  our CPU            {cpu:8.2f} s    ({cpu / count * 1000:.2f} ms an invoice; target ≤ 5 ms)")
    print(f"  database queries   {queries:8d}      ({queries / count:.1f} an invoice; target ≤ 15)")
    print(f"  database: {database_url.split('@')[-1]}")


if __name__ == "__main__":
    main()
