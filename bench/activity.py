"""Benchmark: the QuickBooks activity and settings pages with 100,000 sync log rows (prints figures; not a test).

    .venv/bin/python bench/activity.py                          # fresh SQLite file, 100,000 rows
    .venv/bin/python bench/activity.py --rows 20000
    .venv/bin/python bench/activity.py --database-url postgres://postgres@127.0.0.1:5432/attune_qbo_bench

Seeds one company with N sync log rows spread over 60 days (mixed statuses and error codes, plus another
company's rows so the company filter matters), then renders the pages in-process with Django's test client
and prints the server time (median and worst of several requests) and the number of queries, against
DESIGN §9's target: paginated, indexed, ≤ 100 ms server time.
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

PAGES = [
    ("activity, newest first", "/settings/integrations/quickbooks/activity/", {}),
    ("activity, page 500", "/settings/integrations/quickbooks/activity/", {"page": "500"}),
    ("activity, failed only", "/settings/integrations/quickbooks/activity/", {"status": "failed"}),
    (
        "activity, problems by cause",
        "/settings/integrations/quickbooks/activity/",
        {"status": "problems", "code": "6140"},
    ),
    ("activity, one invoice number", "/settings/integrations/quickbooks/activity/", {"number": "INV-04242"}),
    (
        "activity, a date range",
        "/settings/integrations/quickbooks/activity/",
        {"date_from": "2026-01-01", "date_to": "2026-01-07"},
    ),
    ("settings (health, 30-day chart)", "/settings/integrations/quickbooks/", {}),
    ("status pill", "/settings/integrations/quickbooks/status-pill/", {}),
    ("30-day chart (loaded by htmx)", "/settings/integrations/quickbooks/chart/", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-activity-')}/bench.sqlite3"
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
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0, interactive=False)
    company, user = seed(args.rows)
    measure(company, user, args.repeat, database_url)


def seed(rows: int):
    import datetime as dt
    import random

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from attune_qbo.tenants.models import Company, Membership, Role
    from integrations.models import QuickBooksConnection, QuickBooksSyncLog

    rng = random.Random(7)  # noqa: S311  (figures, not security)
    user = get_user_model().objects.create_user("bench-admin", password="x")
    company = Company.objects.create(name="Bench Co", slug="bench-co")
    other = Company.objects.create(name="Other Co", slug="other-co")
    Membership.objects.create(user=user, company=company, role=Role.ADMIN)
    for owner, realm in ((company, "9100"), (other, "9200")):
        QuickBooksConnection.objects.create(company=owner, status="connected", realm_id=realm, environment="simulator")
    statuses = ["succeeded"] * 80 + ["up_to_date"] * 8 + ["failed"] * 6 + ["dead"] * 2 + ["drift"] * 3 + ["skipped"]
    codes = {"failed": ["mapping_incomplete", "6140", "610", "6000"], "dead": ["10000", ""], "drift": [""]}
    now = timezone.now()
    started = time.perf_counter()
    batch = []
    with transaction.atomic():
        for i in range(rows + rows // 10):
            owner = company if i < rows else other
            status = rng.choice(statuses)
            batch.append(
                QuickBooksSyncLog(
                    company=owner,
                    realm_id="9100" if owner is company else "9200",
                    object_id=i % 20000,
                    object_repr=f"INV-{i % 20000:05d}",
                    status=status,
                    attempts=1 if status in ("succeeded", "up_to_date") else rng.randint(1, 5),
                    error_code=rng.choice(codes.get(status, [""])),
                    qbo_id=str(i) if status in ("succeeded", "up_to_date", "drift") else "",
                    intuit_tid=f"1-{i:08x}",
                    message="Created invoice in QuickBooks." if status == "succeeded" else "QuickBooks refused it.",
                )
            )
            if len(batch) == 5000:
                QuickBooksSyncLog.objects.bulk_create(batch)
                batch = []
        QuickBooksSyncLog.objects.bulk_create(batch)
        # created_at is auto_now_add: spread the rows over 60 days afterwards (600 buckets of consecutive ids).
        ids = QuickBooksSyncLog.objects.order_by("pk").values_list("pk", flat=True)
        first, last = ids.first(), ids.last()
        step = max((last - first + 1) // 600, 1)
        for bucket in range(601):
            low = first + bucket * step
            QuickBooksSyncLog.objects.filter(pk__gte=low, pk__lt=low + step).update(
                created_at=now - dt.timedelta(hours=bucket * 2.4, seconds=rng.randint(0, 3600))
            )
    from django.db import connection

    if connection.vendor == "postgresql":  # fresh statistics, as autovacuum would give a real table
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE integrations_quickbookssynclog")
    print(
        f"seeded {rows:,} rows for the company (+{rows // 10:,} for another) in {time.perf_counter() - started:.1f} s"
    )
    return company, user


def measure(company, user, repeat: int, database_url: str) -> None:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    print(f"\n{engine}, server time per request (Django test client, in-process), {repeat} requests each:")
    print(f"{'page':36} {'median':>9} {'worst':>9} {'queries':>8}")
    for label, path, params in PAGES:
        times = []
        for _ in range(repeat):
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(path, params, headers={"HX-Request": "true"} if "chart" in path else {})
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        flag = "" if statistics.median(times) <= 100 else "   over the 100 ms target"
        print(f"{label:36} {statistics.median(times):7.1f}ms {max(times):7.1f}ms {len(queries):8d}{flag}")


if __name__ == "__main__":
    main()
