"""Benchmark: the pages people open, at volume (prints figures; not a test).

    .venv/bin/python bench/pages.py                                   # fresh SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/attune_bench_pages .venv/bin/python bench/pages.py
    .venv/bin/python bench/pages.py --logs 20000 --invoices 4000 --repeat 10 --slowest 3

Seeds one company with 20,000 invoices (two lines each, a quarter of them paid, most linked to QuickBooks) and
100,000 sync log rows for them over 90 days (mixed statuses and error codes), plus a second company with a tenth
of that (so the company filter matters), with `bulk_create`. Then it asks for the activity page, the Django admin's
sync log list, the API's sync-log list, the invoice list and an invoice's page, each with the filters and the
paging they offer, through Django's test client in this process (server time, no network), and prints the median
and the 95th percentile over `--repeat` requests, the number of queries, and the median as a ratio to the 100 ms
target (issue 11 item 5; DESIGN §9). The database given by DATABASE_URL (or --database-url) is dropped and
re-created: use a database of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 100.0
ACTIVITY = "/settings/integrations/quickbooks/activity/"
ADMIN = "/admin/integrations/quickbookssynclog/"
API = "/api/v1/integrations/quickbooks/sync-logs"
INVOICES = "/invoices/"


def pages(ctx: dict) -> list[tuple[str, str, dict]]:
    """(label, path, query) for every page and filter measured; `ctx` holds ids found after seeding."""
    busy, number = ctx["busy_invoice"], ctx["busy_number"]
    return [
        ("activity: newest first", ACTIVITY, {}),
        ("activity: next page", ACTIVITY, {"page": "2"}),
        ("activity: last page offered (200)", ACTIVITY, {"page": "200"}),
        ("activity: failed only", ACTIVITY, {"status": "failed"}),
        ("activity: problems by cause", ACTIVITY, {"status": "problems", "code": "6140"}),
        ("activity: one invoice number", ACTIVITY, {"number": number}),
        ("activity: a date range", ACTIVITY, {"date_from": ctx["week_from"], "date_to": ctx["week_to"]}),
        ("activity: skipped (rare)", ACTIVITY, {"status": "skipped"}),
        ("admin sync log: newest first", ADMIN, {}),
        ("admin sync log: last page offered (100)", ADMIN, {"p": "100"}),
        ("admin sync log: failed", ADMIN, {"status__exact": "failed"}),
        ("admin sync log: this company", ADMIN, {"company__id__exact": str(ctx["company_id"])}),
        ("admin sync log: operation void", ADMIN, {"operation__exact": "void"}),
        ("admin sync log: trigger retry", ADMIN, {"trigger__exact": "retry"}),
        ("admin sync log: past 7 days", ADMIN, ctx["admin_week"]),
        ("admin sync log: this month", ADMIN, ctx["admin_month"]),
        ("admin sync log: search a number", ADMIN, {"q": number}),
        ("admin sync log: search, no match", ADMIN, {"q": "no-such-thing"}),
        ("API sync-logs: newest first", API, {}),
        ("API sync-logs: 4,000 rows down (cursor)", API, ctx["api_deep"]),
        ("API sync-logs: failed", API, {"status": "failed"}),
        ("API sync-logs: one invoice", API, {"invoice": str(busy)}),
        ("invoice list: newest first", INVOICES, {}),
        ("invoice list: last page offered (400)", INVOICES, {"page": "400"}),
        ("invoice list: finalized", INVOICES, {"status": "finalized"}),
        ("invoice list: search a number", INVOICES, {"q": number}),
        ("invoice list: search a client", INVOICES, {"q": "Client 0042"}),
        ("invoice list: QuickBooks failed", INVOICES, {"qbo": "failed"}),
        ("invoice list: QuickBooks not sent", INVOICES, {"qbo": "not_sent"}),
        ("invoice page (busiest invoice)", f"{INVOICES}{busy}/", {}),
        ("invoice page: QuickBooks box (htmx poll)", f"/settings/integrations/quickbooks/invoices/{busy}/panel/", {}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=100_000, help="sync log rows of the measured company")
    parser.add_argument("--invoices", type=int, default=20_000, help="invoices of the measured company")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (median and p95 over them)")
    parser.add_argument("--slowest", type=int, default=0, help="print the N slowest queries of each page")
    parser.add_argument("--only", default="", help="measure only pages whose label contains this")
    parser.add_argument("--reuse", action="store_true", help="measure the data a previous run left (no re-seed)")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-pages-')}/bench.sqlite3"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": database_url,
            "QUICKBOOKS_ENVIRONMENT": "simulator",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
        }
    )
    if database_url.startswith("postgres") and not args.reuse:
        recreate_postgres_database(database_url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    # The bench walks 1,000 API pages to reach a deep one: the per-user API throttle would answer 429.
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "user": "1000000/min"}
    call_command("migrate", verbosity=0, interactive=False)
    if args.reuse:
        from django.db import connection

        from attune_qbo.tenants.models import Company

        with connection.cursor() as cursor:  # statistics for indexes added since the data was seeded
            cursor.execute("ANALYZE")
        company = Company.objects.get(slug="bench-co")
        ctx = context_for(company, company.created_at)
    else:
        ctx = seed(logs=args.logs, invoices=args.invoices)
    measure(ctx, repeat=args.repeat, slowest=args.slowest, only=args.only, database_url=database_url)


def recreate_postgres_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def seed(*, logs: int, invoices: int) -> dict:
    import datetime as dt

    from django.db import connection

    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    company = seed_company("Bench Co", "9100", logs=logs, invoices=invoices, now=now, seed=7)
    seed_company("Other Co", "9200", logs=logs // 10, invoices=invoices // 10, now=now, seed=8)
    if connection.vendor == "postgresql":  # fresh statistics, as autovacuum would give a real database
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"seeded {invoices:,} invoices and {logs:,} sync log rows for the company "
        f"(+{invoices // 10:,} and {logs // 10:,} for another) in {time.perf_counter() - started:.1f} s"
    )
    return context_for(company, now)


def seed_company(name: str, realm: str, *, logs: int, invoices: int, now, seed: int):
    """One company, its staff user, connection, clients, products, invoices with lines and payments, links and
    sync log rows, all with bulk_create (timestamps set explicitly, not by auto_now)."""
    import datetime as dt
    import random
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from attune_qbo.billing.models import Client, Invoice, InvoiceLine, Payment, Product, TaxRate
    from attune_qbo.tenants.models import Company, Membership, Role
    from integrations.models import QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog

    rng = random.Random(seed)  # noqa: S311  (figures, not security)
    slug = name.lower().replace(" ", "-")
    with transaction.atomic(), _explicit_timestamps(Invoice, Payment, QuickBooksLink, QuickBooksSyncLog):
        user = get_user_model().objects.create_user(f"{slug}-staff", password="x", is_staff=True)
        company = Company.objects.create(name=name, slug=slug)
        Membership.objects.create(user=user, company=company, role=Role.ADMIN)
        QuickBooksConnection.objects.create(
            company=company, status="connected", realm_id=realm, environment="simulator", qbo_company_name=name
        )
        tax = TaxRate.objects.create(company=company, name="Sales tax", percent=Decimal("8"))
        products = Product.objects.bulk_create(
            Product(company=company, name=f"Product {i:02d}", unit_price=Decimal(50 + i)) for i in range(20)
        )
        clients = Client.objects.bulk_create(
            (Client(company=company, display_name=f"Client {i:04d}", email=f"c{i}@example.com") for i in range(500)),
            batch_size=500,
        )
        statuses = ["finalized"] * 60 + ["paid"] * 25 + ["draft"] * 10 + ["void"] * 5
        rows = []
        for i in range(invoices):
            issued = (now - dt.timedelta(days=730 * i / max(invoices, 1))).date()
            status = rng.choice(statuses)
            created = now - dt.timedelta(days=730 * (invoices - i) / max(invoices, 1))
            rows.append(
                Invoice(
                    company=company,
                    number=f"INV-{i:05d}",
                    client=clients[i % len(clients)],
                    issue_date=issued,
                    due_date=issued + dt.timedelta(days=30),
                    status=status,
                    subtotal=Decimal("200.00"),
                    tax_total=Decimal("16.00"),
                    total=Decimal("216.00"),
                    amount_paid=Decimal("216.00") if status == "paid" else Decimal("0.00"),
                    created_at=created,
                    updated_at=created,
                )
            )
        invoice_rows = Invoice.objects.bulk_create(rows, batch_size=2000)
        InvoiceLine.objects.bulk_create(
            (
                InvoiceLine(
                    invoice=invoice,
                    position=position,
                    product=products[(invoice.pk + position) % len(products)],
                    description="Consulting",
                    quantity=Decimal("1"),
                    unit_price=Decimal("100"),
                    tax_rate=tax,
                    amount=Decimal("100.00"),
                )
                for invoice in invoice_rows
                for position in range(2)
            ),
            batch_size=5000,
        )
        Payment.objects.bulk_create(
            (
                Payment(
                    company=company,
                    invoice=invoice,
                    amount=invoice.total,
                    date=invoice.issue_date,
                    created_at=invoice.created_at,
                    updated_at=invoice.created_at,
                )
                for invoice in invoice_rows
                if invoice.status == "paid"
            ),
            batch_size=5000,
        )
        sent = [invoice for invoice in invoice_rows if invoice.status != "draft"]
        QuickBooksLink.objects.bulk_create(
            (
                QuickBooksLink(
                    company=company,
                    realm_id=realm,
                    object_type="invoice",
                    object_id=invoice.pk,
                    qbo_id=str(1000 + n),
                    sync_token="0",
                    source_updated_at=invoice.updated_at,
                    voided=invoice.status == "void",
                    created_at=invoice.created_at,
                    updated_at=invoice.created_at,
                )
                for n, invoice in enumerate(sent)
                if n % 20  # one in twenty never reached QuickBooks
            ),
            batch_size=5000,
        )
        log_statuses = (
            ["succeeded"] * 80 + ["up_to_date"] * 8 + ["failed"] * 6 + ["dead"] * 2 + ["drift"] * 3 + ["skipped"]
        )
        codes = {"failed": ["mapping_incomplete", "6140", "610", "6000"], "dead": ["10000", ""]}
        batch = []
        for i in range(logs):
            invoice = sent[i % len(sent)]
            status = rng.choice(log_statuses)
            created = now - dt.timedelta(days=90 * (logs - i) / logs, seconds=rng.randint(0, 60))
            batch.append(
                QuickBooksSyncLog(
                    company=company,
                    realm_id=realm,
                    entity_type="invoice",
                    object_id=invoice.pk,
                    object_repr=invoice.number,
                    operation="void" if invoice.status == "void" else "push",
                    status=status,
                    trigger=rng.choice(["auto"] * 18 + ["manual", "retry"]),
                    attempts=1 if status in ("succeeded", "up_to_date") else rng.randint(1, 5),
                    error_code=rng.choice(codes.get(status, [""])),
                    qbo_id=str(1000 + i % len(sent)) if status in ("succeeded", "up_to_date", "drift") else "",
                    intuit_tid=f"1-{seed}-{i:08x}",
                    message="Created invoice in QuickBooks." if status == "succeeded" else "QuickBooks refused it.",
                    finished_at=created,
                    created_at=created,
                    updated_at=created,
                )
            )
            if len(batch) == 5000:
                QuickBooksSyncLog.objects.bulk_create(batch)
                batch = []
        QuickBooksSyncLog.objects.bulk_create(batch)
    return company


class _explicit_timestamps:
    """While seeding, these models' `auto_now`/`auto_now_add` fields keep the values given (history spread over
    time)."""

    def __init__(self, *models) -> None:
        self.models = models

    def __enter__(self):
        self.changed = []
        for model in self.models:
            for field in model._meta.concrete_fields:
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    self.changed.append((field, field.auto_now, field.auto_now_add))
                    field.auto_now = field.auto_now_add = False
        return self

    def __exit__(self, *exc):
        for field, auto_now, auto_now_add in self.changed:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def context_for(company, now) -> dict:
    """Ids and parameters the page list needs: the busiest invoice, a week, a month, deep cursors."""
    import datetime as dt

    from django.db.models import Count

    from integrations.models import QuickBooksSyncLog

    busiest = (
        QuickBooksSyncLog.objects.filter(company=company)
        .values("object_id", "object_repr")
        .annotate(n=Count("id"))
        .order_by("-n", "object_id")
        .first()
    )
    week_from = (now - dt.timedelta(days=20)).date()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)  # as DateFieldListFilter builds its links
    tomorrow = str(midnight + dt.timedelta(days=1))
    return {
        "company": company,
        "company_id": company.pk,
        "busy_invoice": busiest["object_id"],
        "busy_number": busiest["object_repr"],
        "week_from": week_from.isoformat(),
        "week_to": (week_from + dt.timedelta(days=6)).isoformat(),
        # The admin's date filter links (DateFieldListFilter): "Past 7 days" and "This month".
        "admin_week": {"created_at__gte": str(midnight - dt.timedelta(days=7)), "created_at__lt": tomorrow},
        "admin_month": {"created_at__gte": str(midnight.replace(day=1)), "created_at__lt": tomorrow},
    }


def deep_links(client, ctx: dict) -> None:
    """Follow the API's `next` links 4,000 rows down (as a script would) and keep the last cursor, so the deep
    page is measured the way it is reached."""
    from urllib.parse import parse_qsl, urlsplit

    query: dict = {}
    for _ in range(160):
        body = client.get(API, {**query, "page_size": "25"}).json()
        if not body.get("next"):
            break
        query = dict(parse_qsl(urlsplit(body["next"]).query))
    ctx["api_deep"] = query


def measure(ctx: dict, *, repeat: int, slowest: int, only: str, database_url: str) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-co-staff"))
    deep_links(client, ctx)
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    print(f"\n{engine}: server time per request (Django test client, in-process), {repeat} requests each")
    print(f"{'page':44} {'median':>8} {'p95':>8} {'cpu':>7} {'queries':>8} {'vs 100 ms':>10}")
    worst = 0.0
    for label, path, params in pages(ctx):
        if only and only not in label:
            continue
        times, cpu = [], []
        for _ in range(repeat):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as queries:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(path, params)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        worst = max(worst, median)
        flag = "" if median <= TARGET_MS else "  OVER"
        print(
            f"{label:44} {median:6.1f}ms {p95:6.1f}ms {statistics.median(cpu):5.1f}ms {len(queries):8d} "
            f"{median / TARGET_MS:9.2f}×{flag}"
        )
        if slowest:
            timed = sorted(queries.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:slowest]
            for query in timed:
                print(f"      {float(query['time']) * 1000:6.1f}ms  {query['sql'][:220]}")
    print(f"\nslowest page median: {worst:.1f} ms = {worst / TARGET_MS:.2f}× the {TARGET_MS:.0f} ms target")
    print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; cpu = this process)")


if __name__ == "__main__":
    main()
