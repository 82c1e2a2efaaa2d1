"""Benchmark: CSV and IIF exports of many invoices (prints figures; not a test).

    .venv/bin/python bench/exports.py                       # fresh SQLite file, 5,000 invoices × 4 lines
    .venv/bin/python bench/exports.py --invoices 20000
    .venv/bin/python bench/exports.py --database-url postgres://postgres@127.0.0.1:5432/attune_qbo_bench_exports

Seeds one company with N finalized invoices (4 lines, two tax rates), then measures: the count shown before a
download (`export_plan`), the time to the first byte and to the last byte of each download, bytes, queries and
the peak Python memory while streaming (tracemalloc), to show the stream stays flat as the range grows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-exports-')}/bench.sqlite3"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": database_url,
            "QUICKBOOKS_ENVIRONMENT": "simulator",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    company = seed(args.invoices)
    measure(company)


def seed(count: int):
    import datetime as dt
    from decimal import Decimal

    from django.db import transaction

    from attune_qbo.billing.models import Client, Invoice, InvoiceLine, Product, TaxRate
    from attune_qbo.tenants.models import Company

    started = time.perf_counter()
    company = Company.objects.create(name="Bench Co", slug="bench-co")
    rates = [
        TaxRate.objects.create(company=company, name="State", percent=Decimal("7.25")),
        TaxRate.objects.create(company=company, name="City: extra", percent=Decimal("1.5")),
    ]
    clients = [Client.objects.create(company=company, display_name=f"Client {n}: Café") for n in range(200)]
    products = [
        Product.objects.create(company=company, name=f"Item {n}", unit_price=Decimal("12.345")) for n in range(20)
    ]
    with transaction.atomic():
        invoices = Invoice.objects.bulk_create(
            [
                Invoice(
                    company=company,
                    number=f"B-{n:06d}",
                    client=clients[n % len(clients)],
                    issue_date=dt.date(2026, 1, 1) + dt.timedelta(days=n % 300),
                    due_date=dt.date(2026, 2, 1) + dt.timedelta(days=n % 300),
                    status="finalized",
                    subtotal=Decimal("0"),
                )
                for n in range(count)
            ],
            batch_size=2000,
        )
        lines = []
        for invoice in invoices:
            for position in range(4):
                quantity = Decimal(position + 1) / 3
                amount = (quantity * Decimal("12.345")).quantize(Decimal("0.01"))
                lines.append(
                    InvoiceLine(
                        invoice=invoice,
                        position=position,
                        product=products[(invoice.pk + position) % len(products)],
                        quantity=quantity.quantize(Decimal("0.0001")),
                        unit_price=Decimal("12.345"),
                        amount=amount,
                        tax_rate=rates[position % 2],
                    )
                )
        InvoiceLine.objects.bulk_create(lines, batch_size=5000)
    print(f"seeded {count:,} invoices × 4 lines in {time.perf_counter() - started:.1f} s")
    return company


def measure(company) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.exports.services import ExportRequest, export_plan, export_start

    for fmt in ("csv", "iif"):
        request = ExportRequest(format=fmt)
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as plan_queries:
            plan = export_plan(company=company, request=request)
        plan_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            _, download = export_start(company=company, user=None, request=request)
            size, first = 0, None
            for chunk in download.chunks:
                first = first if first is not None else time.perf_counter() - started
                size += len(chunk)
        total = time.perf_counter() - started
        tracemalloc.start()  # a second run for memory: tracing slows Python down, so it is not timed
        _, download = export_start(company=company, user=None, request=request)
        for _chunk in download.chunks:
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{fmt}: count first {plan_ms:.0f} ms ({len(plan_queries)} queries) · {plan.invoice_count:,} invoices, "
            f"{plan.line_count:,} lines, {plan.file_count} file(s) · first byte {first * 1000:.0f} ms · "
            f"all {total:.2f} s ({plan.invoice_count / total:,.0f} invoices/s) · {size / 1e6:.1f} MB · "
            f"{len(queries)} queries · peak Python memory {peak / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
