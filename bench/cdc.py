"""Benchmark: CDC catch-up after lost webhooks (prints figures; not a test).

    .venv/bin/python bench/cdc.py                    # 10,000 payment changes
    .venv/bin/python bench/cdc.py --changes 2000

The app and the simulator run in a separate `runserver` process on a fresh SQLite file (or --database-url), as in
bench/push.py. The simulator's company is given N payments changed over the last hours "directly in QuickBooks"
(written straight into its tables: their webhooks were lost), the connection's CDC watermark is put before them,
and this process runs one `cdc_pull` (the schedule's work) and then the processing of the events it stored.
Prints: time and metered reads for the catch-up (target: every change, a handful of reads — CDC returns at most
1,000 objects per call, QBO-REFERENCE §2.7), the processing rate, and the steady state (one read when nothing
changed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.push import configure, connect, control_headers, free_port, start_server  # noqa: E402

REALM = "9341453050298541"


def seed_payments(base: str, count: int, *, spread: dt.timedelta) -> dt.datetime:
    """N unapplied payments of one customer (made through the control API), changed one after another over
    `spread`."""
    import requests
    from django.db.models import Max
    from django.utils import timezone

    from integrations.simulator.models import SimCompany, SimEntity

    made = requests.post(
        f"{base}/simulator/control/companies/{REALM}/customers",
        json={"DisplayName": "Walk-in customer"},
        headers=control_headers(),
        timeout=10,
    )
    made.raise_for_status()
    company = SimCompany.objects.get(realm_id=REALM)
    customer = SimEntity.objects.get(company=company, entity_type="Customer", entity_id=made.json()["Customer"]["Id"])
    first = (SimEntity.objects.filter(company=company).aggregate(top=Max("number"))["top"] or 0) + 1000
    start = timezone.now() - spread
    step = spread / count
    rows = []
    for n in range(count):
        when = start + step * n
        number = first + n
        rows.append(
            SimEntity(
                company=company,
                entity_type="Payment",
                entity_id=str(number),
                number=number,
                customer_ref=customer.entity_id,
                body={
                    "CustomerRef": {"value": customer.entity_id, "name": customer.name},
                    "TotalAmt": 10 + n % 90,
                    "UnappliedAmt": 10 + n % 90,
                    "TxnDate": when.date().isoformat(),
                    "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                    "Line": [],
                },
                created_at=when,
                updated_at=when,
            )
        )
    SimEntity.objects.bulk_create(rows, batch_size=1000)
    return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", action="store_true", help="profile the processing of the events")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-cdc-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = free_port()
    env = configure(database_url, port)
    server = start_server(env, port)
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.utils import timezone

        from attune_qbo.tenants.models import Company, Membership
        from integrations.models import (
            QuickBooksConnection,
            QuickBooksRealmPace,
            QuickBooksUnappliedPayment,
            QuickBooksWebhookEvent,
        )
        from integrations.services.cdc import cdc_pull
        from integrations.services.events import events_process_pending
        from integrations.services.usage import connection_usage

        base = f"http://127.0.0.1:{port}"
        company = Company.objects.create(name="Bench Co", slug=f"bench-cdc-{port}")
        user = get_user_model().objects.create_user(f"bench-{port}", "bench@example.com", "pw")
        Membership.objects.create(user=user, company=company, role="admin")
        connect(company, user, base)
        connection = QuickBooksConnection.objects.get(company=company)
        print(f"attune-qbo CDC catch-up benchmark · database {database_url.split(':')[0]} · simulator {base}")

        spread = dt.timedelta(hours=3)
        seed_payments(base, args.changes, spread=spread)
        QuickBooksConnection.objects.filter(pk=connection.pk).update(
            cdc_watermark=timezone.now() - spread - dt.timedelta(minutes=1)
        )
        QuickBooksRealmPace.objects.filter(realm_id=connection.realm_id).update(reads=0)
        started = time.perf_counter()
        cdc_pull(connection_id=connection.pk)
        pulled = time.perf_counter() - started
        connection.refresh_from_db()
        reads = connection_usage(connection=connection).reads
        events = QuickBooksWebhookEvent.objects.filter(source="cdc", entity_name="Payment").count()
        print(f"\n## Catch-up: {args.changes:,} payments changed while webhooks were lost")
        print(
            f"read {events:,} payment changes in {pulled:.1f} s with {reads} metered reads "
            f"(at most 1,000 objects per CDC answer: ≥ {-(-args.changes // 1000)} reads needed)"
        )

        started = time.perf_counter()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            processed = profiler.runcall(events_process_pending, limit=args.changes * 2)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            processed = events_process_pending(limit=args.changes * 2)
        elapsed = time.perf_counter() - started
        kept = QuickBooksUnappliedPayment.objects.filter(company=company).count()
        connection.refresh_from_db()
        print(
            f"processed {processed:,} events in {elapsed:.1f} s ({processed / elapsed:,.0f}/s), no further reads "
            f"(reads now {connection_usage(connection=connection).reads}); {kept:,} unapplied payments listed for "
            "a person"
        )

        QuickBooksRealmPace.objects.filter(realm_id=connection.realm_id).update(reads=0)
        cdc_pull(connection_id=connection.pk)
        connection.refresh_from_db()
        steady = connection_usage(connection=connection).reads
        print(f"\n## Steady state: a period with nothing changed costs {steady} read(s)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
