"""Benchmark: fairness across tenants (prints figures; not a test).

    .venv/bin/python bench/fairness.py                    # tenant A: 5,000 waiting invoices; tenant B: one invoice
    .venv/bin/python bench/fairness.py --backlog 1000 --debounce 10

Tenant A's backlog sits in the outbox and the real workers (`manage.py qcluster`, the default 2) are draining it
against the simulator with Intuit's limits on, when tenant B finalizes one invoice. The figure is how long B's
invoice takes to reach QuickBooks, against the target: the debounce plus at most 5 seconds (issue 11). Workers claim
round robin by realm (integrations/outbox/worker.py `sync_drain`), so B's entry goes at its first claim
once due.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import push as common  # noqa: E402
import workers  # noqa: E402

US_REALM, OTHER_US_REALM = "9341453050298541", "9341453050298542"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--debounce", type=float, default=10.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-fairness-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = common.free_port()
    env = common.configure(database_url, port)
    env.update(
        {"QUICKBOOKS_PUSH_DEBOUNCE_SECONDS": str(args.debounce), "QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY": "manual"}
    )
    os.environ.update(env)
    server = common.start_server(env, port)
    cluster = None
    try:
        import django

        django.setup()
        import requests
        from django.db import transaction
        from django.utils import timezone

        from integrations.models import QuickBooksSyncLog
        from integrations.outbox.enqueue import dispatch_drain

        base = f"http://127.0.0.1:{port}"
        a = common.make_tenant(port, "Tenant A", US_REALM)
        b = common.make_tenant(port, "Tenant B", OTHER_US_REALM)
        workers.link_customer(a)
        workers.link_customer(b)
        headers = common.control_headers()
        requests.post(f"{base}/simulator/control/settings", json={"rate_limits": True}, headers=headers, timeout=10)
        started = time.perf_counter()
        with mock.patch("integrations.outbox.enqueue.dispatch", lambda entry_id: None), transaction.atomic():
            backlog = [common.make_invoice(a, 3).pk for _ in range(args.backlog)]
        QuickBooksSyncLog.objects.filter(object_id__in=backlog, status="pending").update(next_attempt_at=timezone.now())
        print(
            f"attune-qbo fairness benchmark · database {database_url.split(':')[0]} · tenant A: {len(backlog)} "
            f"invoices waiting (made in {time.perf_counter() - started:.0f} s) · debounce {args.debounce:g} s · "
            "qcluster, 2 workers"
        )
        cluster = workers.start_cluster(env)
        dispatch_drain()
        a_entries = QuickBooksSyncLog.objects.filter(company=a["company"], object_id__in=backlog)
        while not a_entries.filter(status="succeeded").exists():
            time.sleep(0.2)
        time.sleep(5)  # well into A's backlog
        finalized = time.time()
        invoice = common.make_invoice(b, 3)  # dispatched on commit, like any finalize
        entry = QuickBooksSyncLog.objects.filter(company=b["company"], object_id=invoice.pk).latest("id")
        while QuickBooksSyncLog.objects.get(pk=entry.pk).status != "succeeded":
            if time.time() - finalized > args.debounce + 120:
                raise SystemExit("tenant B's invoice did not go within two minutes")
            time.sleep(0.05)
        entry.refresh_from_db()
        latency = entry.finished_at.timestamp() - finalized
        a_done = a_entries.filter(status="succeeded").count()
        workers.stop(cluster)
        verdict = "met" if latency <= args.debounce + 5 else "MISSED"
        print(
            f"tenant B's invoice reached QuickBooks {latency:.1f} s after it was finalized = debounce + "
            f"{latency - args.debounce:.1f} s (target ≤ debounce + 5 s: {verdict}); "
            f"meanwhile tenant A had {a_done} of {len(backlog)} sent"
        )
        marks = {name: getattr(entry, name) for name in ("created_at", "next_attempt_at", "started_at", "finished_at")}
        print(
            "tenant B's entry, seconds after the finalize: "
            + ", ".join(f"{name} {value.timestamp() - finalized:+.1f}" for name, value in marks.items() if value)
            + f"; attempts {entry.attempts}, {entry.message[:80]}"
        )
    finally:
        if cluster is not None:
            workers.stop(cluster)
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
