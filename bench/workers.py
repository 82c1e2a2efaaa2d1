"""Benchmark: the outbox drained by the real workers users run (`manage.py qcluster`), against the simulator with
Intuit's limits on (prints figures; not a test).

    .venv/bin/python bench/workers.py             # 1,000 invoices, one realm, the default qcluster (2 workers)
    .venv/bin/python bench/workers.py --invoices 300 --time-scale 10   # a 6-second "minute" (simulator and limiter)
    .venv/bin/python bench/workers.py --database-url postgres://postgres@127.0.0.1:5432/attune_bench_workers
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/workers.py   # the production broker

The app and the simulator are served by `runserver` (threads); N invoices whose customer is already linked are
finalized with the cluster stopped (so the backlog is there before any worker starts), then `qcluster` starts and the
benchmark waits until every entry has succeeded. It prints accepted calls per minute as a ratio to Intuit's ceiling
of 500 per minute per realm (target ≥ 90 %), and the 429s the workers met (target: none; the limiter paces).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import push as common  # noqa: E402  (the push benchmark's server, connect and invoice helpers)

CEILING_PER_MINUTE = 500
THRESHOLD = "QUICKBOOKS_OUTBOX_BATCH_THRESHOLD"


def set_time_scale(base: str, scale: float) -> float:
    """Ask the simulator for a shorter minute; returns the scale it runs at (1 if it has no time scale)."""
    import requests

    if scale == 1:
        return 1.0
    answer = requests.post(
        f"{base}/simulator/control/settings", json={"time_scale": scale}, headers=common.control_headers(), timeout=10
    )
    if answer.status_code != 200 or "time_scale" not in answer.json().get("settings", answer.json()):
        print("  (this simulator has no time scale: running with Intuit's real minute)")
        return 1.0
    return scale


def start_cluster(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def link_customer(tenant) -> None:
    """One push with the worker in this process, so the customer is linked before the backlog (as in steady use)."""
    from unittest import mock

    from integrations.outbox.worker import sync_run

    with mock.patch("integrations.outbox.enqueue.dispatch", lambda entry_id: None):
        entry = common.pending_entry(common.make_invoice(tenant, 3))
        sync_run(entry_id=entry.pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--timeout-minutes", type=float, default=15)
    parser.add_argument("--workers", type=int, default=0, help="Q_WORKERS for qcluster (default: the settings' 2)")
    parser.add_argument(
        "--batch-threshold",
        type=int,
        default=None,
        help="QUICKBOOKS_OUTBOX_BATCH_THRESHOLD for the workers (default: the settings' 10; 0: one call per invoice)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-workers-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = common.free_port()
    env = common.configure(database_url, port)
    env["QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY"] = "manual"
    if args.workers:
        env["Q_WORKERS"] = str(args.workers)
    if args.batch_threshold is not None:
        env[THRESHOLD] = str(args.batch_threshold)
    workers = args.workers or 2
    os.environ.update(env)
    server = common.start_server(env, port)
    cluster = None
    try:
        import django

        django.setup()
        import requests

        from integrations.models import QuickBooksSyncLog

        base = f"http://127.0.0.1:{port}"
        realm = "9341453050298541"
        scale = set_time_scale(base, args.time_scale)
        env["QUICKBOOKS_RATE_WINDOW_SECONDS"] = str(60 / scale)
        os.environ.update(env)
        tenant = common.make_tenant(port, "Bench Co", realm)
        link_customer(tenant)
        limits_on = {"rate_limits": True}
        headers = common.control_headers()
        requests.post(f"{base}/simulator/control/settings", json=limits_on, headers=headers, timeout=10)
        print(
            f"attune-qbo workers benchmark · database {database_url.split(':')[0]} · {workers} workers · broker "
            f"{'redis' if os.environ.get('REDIS_URL') else 'ORM'} · {args.invoices} invoices · 1 realm · "
            f"time scale {scale:g} (a minute lasts {60 / scale:g} s) · outbox batches "
            + ("off" if args.batch_threshold == 0 else f"above {os.environ.get(THRESHOLD, 10)} due")
        )
        started = time.perf_counter()
        invoices = [common.make_invoice(tenant, 3) for _ in range(args.invoices)]
        ids = list(
            QuickBooksSyncLog.objects.filter(object_id__in=[i.pk for i in invoices], status="pending").values_list(
                "pk", flat=True
            )
        )
        print(f"backlog of {len(ids)} entries made in {time.perf_counter() - started:.0f} s; starting qcluster")
        calls_before = common.simulator_state(base)["api_calls"]
        cluster = start_cluster(env)
        began = None
        deadline = time.monotonic() + args.timeout_minutes * 60
        while time.monotonic() < deadline:
            done = QuickBooksSyncLog.objects.filter(pk__in=ids, status="succeeded").count()
            if began is None and done:
                began = time.perf_counter()
            if done == len(ids):
                break
            time.sleep(0.5)
        ended = time.perf_counter()
        stop(cluster)
        calls = common.simulator_state(base)["api_calls"] - calls_before
        done = QuickBooksSyncLog.objects.filter(pk__in=ids, status="succeeded").count()
        throttled = sum(QuickBooksSyncLog.objects.filter(pk__in=ids).values_list("throttled", flat=True))
        if not began or done < len(ids):
            print(f"only {done}/{len(ids)} pushed before the timeout")
        minutes = max(ended - (began or ended), 1e-9) / (60 / scale)
        per_minute = calls / minutes if minutes else 0
        print(
            f"{done}/{len(ids)} pushed by qcluster ({workers} workers) in {ended - (began or ended):.1f} s; "
            f"{calls} calls to "
            f"QuickBooks = {per_minute:.0f} calls per (scaled) minute = {per_minute / CEILING_PER_MINUTE:.0%} of the "
            f"{CEILING_PER_MINUTE}/min per-realm ceiling (target ≥ 90 %); {throttled} answers were 429"
        )
        invoices_per_minute = done / minutes if minutes else 0
        print(
            f"{invoices_per_minute:.0f} invoices per (scaled) minute = {invoices_per_minute / CEILING_PER_MINUTE:.2f}× "
            f"what one call per invoice allows ({CEILING_PER_MINUTE}/min); the batch ceiling is 40 batches × 30 = "
            f"1,200 invoices/min ({invoices_per_minute / 1200:.0%} of it)"
        )
    finally:
        if cluster is not None:
            stop(cluster)
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
