"""Benchmark: sending existing invoices through the batch endpoint vs one call per invoice (prints figures).

    .venv/bin/python bench/backfill.py                                # 5,000 + 5,000 invoices, time scale 2 (~10 min)
    .venv/bin/python bench/backfill.py --invoices 1000 --time-scale 4  # shorter

Both paths run in the same run, one after the other, against the same simulator (a separate `runserver` process)
with Intuit's limits on and time-scaled (`QUICKBOOKS_SIMULATOR_TIME_SCALE`: at 2 a "minute" of Intuit's limits lasts
30 s; figures are reported per simulated minute, so the ratios are those of real time). Half the clients already
have a QuickBooks customer (linked), half not. Printed:
  - batch: invoices per (simulated) minute, as a share of the batch ceiling (40 batches × 30 = 1,200/min; target
    ≥ 90 %), through `backfill_run` (customers first, in their own batches);
  - per call: invoices per minute through the ordinary outbox (`sync_run`, N worker threads; ceiling 500/min);
  - the ratio batch / per call (target ≥ 2.2×), and the simulator's call counters (reads, writes, batch items).
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

from bench.push import (  # noqa: E402
    configure,
    control_headers,
    free_port,
    make_tenant,
    simulator_state,
    start_server,
)

BATCH_CEILING = 40 * 30  # invoices a minute per realm through batch (QBO-REFERENCE §3.4, §2.6)
CALL_CEILING = 500  # requests a minute per realm


def make_clients(company, prefix: str, count: int):
    from attune_qbo.billing import services

    return [
        services.client_save(company=company, display_name=f"{prefix} {n}", email=f"{prefix.lower()}{n}@example.com")
        for n in range(count)
    ]


def link_half(connection, clients) -> None:
    """Give every other client a QuickBooks customer and link it (the "already linked" half); not timed."""
    from integrations.models import LinkType
    from integrations.quickbooks.online.push import _save_link, company_profile, customer_payload
    from integrations.quickbooks.online.render import payload_hash
    from integrations.services.api import client_for

    api = client_for(connection)
    profile = company_profile(connection)
    for client in clients[::2]:
        payload = customer_payload(client, profile)
        created = api.create("Customer", payload, request_id=f"bench-c{client.pk}")
        _save_link(connection, LinkType.CLIENT, client.pk, created, payload_hash(payload), client.updated_at)


def make_invoices(company, clients, product, count: int) -> list[int]:
    from attune_qbo.billing import services
    from attune_qbo.billing.services import LineData

    ids = []
    for n in range(count):
        invoice = services.invoice_create(
            company=company,
            client=clients[n % len(clients)],
            issue_date=dt.date(2026, 1, 15),
            due_date=dt.date(2026, 2, 14),
            lines=[LineData(product=product, quantity=n % 5 + 1)],
        )
        ids.append(services.invoice_finalize(invoice=invoice).pk)
    return ids


def set_auto_sync(connection, on: bool) -> None:
    from integrations.models import QuickBooksConnection

    QuickBooksConnection.objects.filter(pk=connection.pk).update(auto_sync=on)


def bench_batch(company, base: str, scale: float, *, profile: bool = False) -> float:
    from unittest import mock

    from integrations.services import backfill

    before = simulator_state(base)
    run = backfill.backfill_start(company=company, dispatch=False)
    print(f"\n## Batch: {run.total} invoices, {run.customers_total} customers to create first")
    from integrations.quickbooks.client import QuickBooksClient
    from integrations.quickbooks.limiter import RealmLimiter

    waiting = [0.0]  # seconds inside client.batch: the pace's wait for the slot, then the simulator's answer
    paced = [0.0]  # of which waiting for the realm's batch slot (the limiter)
    real_batch, real_permit = QuickBooksClient.batch, RealmLimiter.permit

    def timed_batch(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return real_batch(self, *args, **kwargs)
        finally:
            waiting[0] += time.perf_counter() - began

    def timed_permit(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return real_permit(self, *args, **kwargs)
        finally:
            paced[0] += time.perf_counter() - began

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    with (
        mock.patch.object(QuickBooksClient, "batch", timed_batch),
        mock.patch.object(RealmLimiter, "permit", timed_permit),
    ):
        if profiler is not None:
            profiler.runcall(backfill.backfill_run, run.pk)
        else:
            backfill.backfill_run(run.pk)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    run.refresh_from_db()
    after = simulator_state(base)
    per_minute = run.succeeded / (elapsed * scale / 60)
    calls = {kind: after["calls"][kind] - before["calls"][kind] for kind in after["calls"]}
    print(
        f"{run.succeeded}/{run.total} sent ({run.failed} failed, {run.drift} drift) in {elapsed:.1f} s = "
        f"{elapsed * scale / 60:.2f} simulated min → {per_minute:.0f} invoices/min = "
        f"{per_minute / BATCH_CEILING:.0%} of the batch ceiling ({BATCH_CEILING}/min; target ≥ 90 %)"
    )
    print(
        f"simulator calls: {calls}; batches sent {run.batches_sent}; waiting for the batch slot {paced[0]:.1f} s, "
        f"for the simulator's answers {waiting[0] - paced[0]:.1f} s, between batches (ours) "
        f"{elapsed - waiting[0]:.1f} s; our CPU {cpu:.1f} s ({cpu / max(run.total, 1) * 1000:.1f} ms per invoice)"
    )
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return per_minute


def bench_per_call(company, ids: list[int], base: str, scale: float, workers: int) -> float:
    from django.db import connections

    from integrations.models import QuickBooksSyncLog
    from integrations.outbox.worker import sync_run

    print(f"\n## One call per invoice: {len(ids)} invoices through the outbox, {workers} worker threads")
    entries = set(QuickBooksSyncLog.objects.filter(object_id__in=ids, status="pending").values_list("pk", flat=True))
    QuickBooksSyncLog.objects.filter(pk__in=entries).update(next_attempt_at=dt.datetime.now(dt.UTC))
    before = simulator_state(base)

    def worker() -> None:
        try:
            while True:
                due = list(
                    QuickBooksSyncLog.objects.filter(
                        pk__in=entries, status="pending", next_attempt_at__lte=dt.datetime.now(dt.UTC)
                    )
                    .order_by("?")
                    .values_list("pk", flat=True)[:20]
                )
                if not due:
                    if not QuickBooksSyncLog.objects.filter(pk__in=entries, status__in=["pending", "running"]).exists():
                        return
                    time.sleep(0.1)
                    continue
                for entry_id in due:
                    sync_run(entry_id=entry_id)
        finally:
            connections.close_all()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    after = simulator_state(base)
    done = QuickBooksSyncLog.objects.filter(pk__in=entries, status="succeeded").count()
    throttled = sum(QuickBooksSyncLog.objects.filter(pk__in=entries).values_list("throttled", flat=True))
    per_minute = done / (elapsed * scale / 60)
    calls = {kind: after["calls"][kind] - before["calls"][kind] for kind in after["calls"]}
    print(
        f"{done}/{len(ids)} sent in {elapsed:.1f} s = {elapsed * scale / 60:.2f} simulated min → {per_minute:.0f} "
        f"invoices/min = {per_minute / CALL_CEILING:.0%} of the per-call ceiling ({CALL_CEILING}/min); "
        f"{throttled} answers were 429 (waited out)"
    )
    print(f"simulator calls: {calls}")
    return per_minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=5000, help="invoices per path")
    parser.add_argument("--clients", type=int, default=250, help="clients per path (half already linked)")
    parser.add_argument("--time-scale", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4, help="worker threads of the per-call path")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--skip-per-call", action="store_true", help="only the batch path (no side-by-side ratio)")
    parser.add_argument("--profile", action="store_true", help="print where the batch path's own time goes")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = free_port()
    os.environ["QUICKBOOKS_SIMULATOR_TIME_SCALE"] = str(args.time_scale)
    # The one per-realm limiter paces both paths, on the simulator's clock: a "minute" of Intuit's limits (500 calls,
    # 40 batches) lasts 60 / time scale seconds.
    os.environ["QUICKBOOKS_RATE_WINDOW_SECONDS"] = str(60 / args.time_scale)
    env = configure(database_url, port)
    env["QUICKBOOKS_SIMULATOR_TIME_SCALE"] = str(args.time_scale)
    server = start_server(env, port)
    try:
        import django

        django.setup()
        from unittest import mock

        import requests

        base = f"http://127.0.0.1:{port}"
        tenant = make_tenant(port, "Backfill Co")
        company, product, connection = tenant["company"], tenant["product"], tenant["connection"]
        requests.post(
            f"{base}/simulator/control/settings", json={"rate_limits": True}, headers=control_headers(), timeout=10
        )
        print(
            f"attune-qbo backfill benchmark · {args.invoices} invoices per path · time scale {args.time_scale} "
            f"(a simulated minute lasts {60 / args.time_scale:.0f} s) · database {database_url.split(':')[0]}"
        )
        with mock.patch("integrations.outbox.enqueue.dispatch", lambda entry_id: None):  # this process is the worker
            print("setting up (not timed): clients, half linked, and invoices …", flush=True)
            set_auto_sync(connection, False)
            batch_clients = make_clients(company, "Batch", args.clients)
            link_half(connection, batch_clients)
            make_invoices(company, batch_clients, product, args.invoices)
            time.sleep(60 / args.time_scale)  # a fresh simulated minute for the measured run
            batch = bench_batch(company, base, args.time_scale, profile=args.profile)
            if args.skip_per_call:
                return

            set_auto_sync(connection, True)
            call_clients = make_clients(company, "Single", args.clients)
            link_half(connection, call_clients)
            ids = make_invoices(company, call_clients, product, args.invoices)
            time.sleep(60 / args.time_scale)
            single = bench_per_call(company, ids, base, args.time_scale, args.workers)
        print(f"\nbatch / per call: {batch / single:.2f}× (target ≥ 2.2×)")
        state = simulator_state(base)
        print(f"QuickBooks holds {state['counts']['Invoice']} invoices for {2 * args.invoices} sent (no duplicates)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
