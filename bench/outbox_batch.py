"""Benchmark: the ordinary outbox draining a backlog of one realm with batching on vs off (prints figures).

    .venv/bin/python bench/outbox_batch.py                                # 300 + 300 invoices, time scale 4
    .venv/bin/python bench/outbox_batch.py --invoices 1000 --time-scale 2  # longer

Both runs drain the same kind of backlog (finalized invoices, their client already a linked QuickBooks customer) with
`sync_drain` in `--workers` threads, against the same simulator (a separate `runserver` process, `--port`) with
Intuit's limits on and time-scaled (`QUICKBOOKS_SIMULATOR_TIME_SCALE`; our limiter's window is shortened with it,
`QUICKBOOKS_RATE_WINDOW_SECONDS`, so a simulated minute lasts 60/scale seconds and the ratios are real time's).
Batching on = `sync_drain` as it runs in production (a batch turn, `outbox.batches.drain_batch`, for a realm with
more than the threshold due); off = threshold 0.
Printed: invoices per simulated minute, as a ratio to the per-call ceiling (500/min), for each; the ratio on/off; the
simulator's call counters; and the invoices QuickBooks holds (no duplicates).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.push import configure, control_headers, make_tenant, simulator_state, start_server  # noqa: E402

CALL_CEILING = 500  # requests a minute per realm (QBO-REFERENCE §3.4)
BATCH_CEILING = 40 * 30  # invoices a minute per realm through batch


def link_client(connection, client) -> None:
    from integrations.models import LinkType
    from integrations.quickbooks.online.push import _save_link, company_profile, customer_payload
    from integrations.quickbooks.online.render import payload_hash
    from integrations.services.api import client_for

    payload = customer_payload(client, company_profile(connection))
    created = client_for(connection).create("Customer", payload, request_id=f"bench-ob-c{client.pk}")
    _save_link(connection, LinkType.CLIENT, client.pk, created, payload_hash(payload), client.updated_at)


def make_backlog(company, client, product, count: int) -> list[int]:
    """Finalized invoices with their outbox entries, not due until the measured run starts."""
    from attune_qbo.billing import services
    from attune_qbo.billing.services import LineData
    from integrations.models import QuickBooksSyncLog

    ids = []
    for n in range(count):
        invoice = services.invoice_create(
            company=company,
            client=client,
            issue_date=dt.date(2026, 1, 15),
            due_date=dt.date(2026, 2, 14),
            lines=[LineData(product=product, quantity=n % 5 + 1)],
        )
        ids.append(services.invoice_finalize(invoice=invoice).pk)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    QuickBooksSyncLog.objects.filter(object_id__in=ids, status="pending").update(next_attempt_at=later)
    return ids


def drain(ids: list[int], base: str, scale: float, workers: int, *, batching: bool) -> float:
    from django.conf import settings
    from django.db import connections

    from integrations.models import QuickBooksSyncLog
    from integrations.outbox import worker

    settings.QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = 10 if batching else 0
    label = "batching on (threshold 10)" if batching else "batching off (one call per invoice)"
    print(f"\n## {label}: {len(ids)} invoices, {workers} draining worker threads")
    entries = list(QuickBooksSyncLog.objects.filter(object_id__in=ids, status="pending").values_list("pk", flat=True))
    before = simulator_state(base)
    QuickBooksSyncLog.objects.filter(pk__in=entries).update(next_attempt_at=dt.datetime.now(dt.UTC))

    def loop() -> None:
        try:
            while QuickBooksSyncLog.objects.filter(pk__in=entries, status__in=["pending", "running"]).exists():
                worker.sync_drain(seconds=5)
        finally:
            connections.close_all()

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = simulator_state(base)
    done = QuickBooksSyncLog.objects.filter(pk__in=entries, status="succeeded").count()
    throttled = sum(QuickBooksSyncLog.objects.filter(pk__in=entries).values_list("throttled", flat=True))
    minutes = elapsed * scale / 60
    per_minute = done / minutes
    calls = {kind: after["calls"][kind] - before["calls"][kind] for kind in after["calls"]}
    print(
        f"{done}/{len(ids)} succeeded in {elapsed:.1f} s = {minutes:.2f} simulated min → {per_minute:.0f} invoices/min"
        f" = {per_minute / CALL_CEILING:.2f}× the per-call ceiling ({CALL_CEILING}/min); 429s: {throttled}; "
        f"our CPU {cpu / max(done, 1) * 1000:.1f} ms per invoice"
    )
    print(f"simulator calls: {calls}")
    return per_minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=300, help="invoices per run")
    parser.add_argument("--time-scale", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="draining worker threads")
    parser.add_argument("--port", type=int, default=8615)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = args.port
    os.environ["QUICKBOOKS_RATE_WINDOW_SECONDS"] = str(60 / args.time_scale)  # our limiter on the simulator's clock
    env = configure(database_url, port)
    env["QUICKBOOKS_SIMULATOR_TIME_SCALE"] = str(args.time_scale)
    server = start_server(env, port)
    try:
        import django

        django.setup()
        from unittest import mock

        import requests

        from attune_qbo.billing import services

        base = f"http://127.0.0.1:{port}"
        tenant = make_tenant(port, "Outbox Batch Co")
        company, product, connection = tenant["company"], tenant["product"], tenant["connection"]
        requests.post(
            f"{base}/simulator/control/settings", json={"rate_limits": True}, headers=control_headers(), timeout=10
        )
        print(
            f"attune-qbo outbox batch benchmark · {args.invoices} invoices per run · time scale {args.time_scale} "
            f"(a simulated minute lasts {60 / args.time_scale:.0f} s) · database {database_url.split(':')[0]}"
        )
        with (
            mock.patch("integrations.outbox.enqueue.dispatch", lambda entry_id: None),
            mock.patch("integrations.outbox.enqueue.dispatch_drain", lambda *a, **k: None),
        ):
            print("setting up (not timed): one linked client and the invoices …", flush=True)
            client = services.client_save(company=company, display_name="Backlog Client", email="b@example.com")
            link_client(connection, client)
            off_ids = make_backlog(company, client, product, args.invoices)
            on_ids = make_backlog(company, client, product, args.invoices)
            time.sleep(60 / args.time_scale)  # a fresh simulated minute for each measured run
            off = drain(off_ids, base, args.time_scale, args.workers, batching=False)
            time.sleep(60 / args.time_scale)
            on = drain(on_ids, base, args.time_scale, args.workers, batching=True)
        print(
            f"\nbatching on / off: {on / off:.2f}× ({on / CALL_CEILING:.2f}× vs {off / CALL_CEILING:.2f}× the per-call "
            f"ceiling; the batch ceiling is {BATCH_CEILING / CALL_CEILING:.1f}×)"
        )
        state = simulator_state(base)
        print(f"QuickBooks holds {state['counts']['Invoice']} invoices for {2 * args.invoices} sent (no duplicates)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
