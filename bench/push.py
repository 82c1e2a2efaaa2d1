"""Benchmark: pushing invoices to QuickBooks (prints figures; not a test).

    .venv/bin/python bench/push.py                  # all figures, 1,000-invoice throughput run (~3 min)
    .venv/bin/python bench/push.py --invoices 200   # a shorter throughput run
    .venv/bin/python bench/push.py --skip-throughput

The app and the simulator are served by a separate `runserver` process (its CPU is not ours), on a fresh SQLite
file (or --database-url). This process plays the worker and measures, against DESIGN §9 and issue 11:
  - database queries per push, for invoices of 1, 10 and 100 lines (target ≤ 8 for a create whose customer is
    linked, whatever the line count), and reads/writes to QuickBooks per push (target: 0 reads, 1 write);
  - our CPU per push, Intuit's time and query logging excluded (target ≤ 5 ms), each printed as a ratio to its
    target;
  - a burst of 50 edits to one invoice inside the debounce window → number of pushes (target 1);
  - throughput pushing N invoices with the simulator's rate limits on (500 requests/min, 10 concurrent per
    realm), as a fraction of that per-realm ceiling.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CEILING_PER_MINUTE = 500
QUERY_TARGET = 8
CPU_TARGET_MS = 5.0
CALLS = {"reads": 0, "writes": 0}


def count_calls() -> None:
    """Count this process's calls to QuickBooks by kind (reads are metered by Intuit; writes are not)."""
    from integrations.quickbooks.client import QuickBooksClient

    real = QuickBooksClient.request

    def counted(self, method, path, **kwargs):
        CALLS["reads" if method == "GET" or path == "query" else "writes"] += 1
        return real(self, method, path, **kwargs)

    QuickBooksClient.request = counted


def control_headers() -> dict:
    """The simulator's control API needs its token; configure() puts one in the server's environment."""
    return {"X-Simulator-Token": os.environ["QUICKBOOKS_SIMULATOR_CONTROL_TOKEN"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(database_url: str, port: int) -> dict:
    base = f"http://127.0.0.1:{port}"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url,
        "QUICKBOOKS_ENVIRONMENT": "simulator",
        "QUICKBOOKS_SIMULATOR_BASE_URL": base,
        "QUICKBOOKS_REDIRECT_URI": f"{base}/api/v1/integrations/quickbooks/callback",
        "QUICKBOOKS_REDIRECT_URI_ALLOWLIST": f"{base}/api/v1/integrations/quickbooks/callback",
        "QUICKBOOKS_PUSH_DEBOUNCE_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "QUICKBOOKS_SIMULATOR_CONTROL_TOKEN": os.environ.get("QUICKBOOKS_SIMULATOR_CONTROL_TOKEN")
        or secrets.token_urlsafe(24),
    }
    os.environ.update(env)
    return env


def start_server(env: dict, port: int) -> subprocess.Popen:
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env={**os.environ, **env}, check=True
    )
    server = subprocess.Popen(
        [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import requests

    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/simulator/", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


def connect(company, user, base: str, realm: str = "9341453050298541") -> None:
    """What a person does in the browser, done with requests: sign in, start connecting, consent, callback."""
    import requests

    from integrations.models import QuickBooksConnection
    from integrations.services.connections import connection_start

    session = requests.Session()
    login = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": user.get_username(), "password": "pw"},
        headers={"Referer": login.url},
        timeout=10,
    )
    url = connection_start(company=company, user=user, session_key=session.cookies.get("sessionid"))
    page = session.get(url, timeout=10)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields.update({"connect": "1", "realm_id": realm})
    session.post(page.url.split("?")[0], data=fields, headers={"Referer": page.url}, timeout=30)
    if not QuickBooksConnection.objects.filter(company=company, status="connected").exists():
        raise SystemExit("connecting to the simulator failed")


def make_tenant(port: int, name: str, realm: str = "9341453050298541") -> dict:
    """A company with an admin, one client and one product, connected to the simulator's `realm`: what every
    benchmark starts from. Returns company, user, client, product and the QuickBooks connection."""
    from django.contrib.auth import get_user_model

    from attune_qbo.billing import services
    from attune_qbo.tenants.models import Company, Membership
    from integrations.models import QuickBooksConnection

    company = Company.objects.create(name=name, slug=f"{name.lower().replace(' ', '-')}-{port}")
    user = get_user_model().objects.create_user(f"{company.slug}-admin", "bench@example.com", "pw")
    Membership.objects.create(user=user, company=company, role="admin")
    tenant = {
        "company": company,
        "user": user,
        "client": services.client_save(company=company, display_name=f"{name} Client {port}", email="c@example.com"),
        "product": services.product_save(company=company, name="Widget", unit_price="19.99"),
    }
    connect(company, user, f"http://127.0.0.1:{port}", realm=realm)
    tenant["connection"] = QuickBooksConnection.objects.get(company=company)
    return tenant


def simulator_state(base: str) -> dict:
    import requests

    return requests.get(
        f"{base}/simulator/control/state",
        params={"realm_id": "9341453050298541"},
        headers=control_headers(),
        timeout=10,
    ).json()


def make_invoice(tenant, lines: int, *, finalize: bool = True):
    from attune_qbo.billing import services
    from attune_qbo.billing.services import LineData

    invoice = services.invoice_create(
        company=tenant["company"],
        client=tenant["client"],
        issue_date=dt.date(2026, 1, 15),
        due_date=dt.date(2026, 2, 14),
        lines=[LineData(product=tenant["product"], quantity=i % 7 + 1) for i in range(lines)],
    )
    return services.invoice_finalize(invoice=invoice) if finalize else invoice


def pending_entry(invoice):
    from integrations.models import QuickBooksSyncLog

    return QuickBooksSyncLog.objects.filter(object_id=invoice.pk, status="pending").latest("id")


def push(entry, *, count_queries: bool = True) -> tuple[int, float, float, int, int]:
    """(queries, cpu seconds, wall seconds, reads, writes) of one push. Counting the queries logs each one (Django's
    debug cursor; on SQLite it also asks the database to quote every parameter), which production does not do: the
    CPU figure is measured without it (`count_queries=False`, queries then 0)."""
    import contextlib

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.outbox.worker import sync_run

    reads, writes = CALLS["reads"], CALLS["writes"]
    with CaptureQueriesContext(connection) if count_queries else contextlib.nullcontext([]) as queries:
        cpu, wall = time.process_time(), time.perf_counter()
        outcome = sync_run(entry_id=entry.pk)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if outcome not in ("succeeded", "skipped"):
        entry.refresh_from_db()
        raise SystemExit(f"push did not succeed: {outcome}: {entry.message}")
    return len(queries), cpu, wall, CALLS["reads"] - reads, CALLS["writes"] - writes


def bench_queries_and_cpu(tenant) -> None:
    from attune_qbo.billing import services

    print("\n## Queries, calls and CPU per push (customer already linked)")
    print(
        f"{'lines':>6} {'create: queries':>16} {'reads':>6} {'writes':>7} {'update: queries':>16} {'reads':>6} "
        f"{'writes':>7} {'CPU ms (create)':>16} {'wall ms':>8}"
    )
    push(pending_entry(make_invoice(tenant, 1)))  # links the customer, warms caches
    worst_queries = 0
    for lines in (1, 10, 100):
        invoice = make_invoice(tenant, lines)
        create_queries, cpu, wall, create_reads, create_writes = push(pending_entry(invoice))
        services.invoice_update(invoice=invoice, memo="edited")
        update_queries, _, _, update_reads, update_writes = push(pending_entry(invoice))
        worst_queries = max(worst_queries, create_queries)
        print(
            f"{lines:>6} {create_queries:>16} {create_reads:>6} {create_writes:>7} {update_queries:>16} "
            f"{update_reads:>6} {update_writes:>7} {cpu * 1000:>16.2f} {wall * 1000:>8.1f}"
        )

    samples, logged, reads, writes = [], [], 0, 0
    for index in range(80):  # alternating, so both figures see the same machine
        _, cpu, _, r, w = push(pending_entry(make_invoice(tenant, 10)), count_queries=bool(index % 2))
        (logged if index % 2 else samples).append(cpu * 1000)
        reads, writes = reads + r, writes + w
    median = statistics.median(samples)
    print(
        f"CPU per push over 40 pushes of 10-line invoices: median {median:.2f} ms, "
        f"p90 {sorted(samples)[int(len(samples) * 0.9)]:.2f} ms = {median / CPU_TARGET_MS:.2f}× the "
        f"{CPU_TARGET_MS:g} ms target (includes building and parsing the HTTP messages and the limiter; excludes the "
        f"simulator's time and query logging: with every query logged, as the table above, median "
        f"{statistics.median(logged):.2f} ms)"
    )
    print(
        f"Queries per create: {worst_queries} = {worst_queries / QUERY_TARGET:.2f}× the target of {QUERY_TARGET}; "
        f"reads per steady push: {reads / 80:.2f} (target 0), writes per push: {writes / 80:.2f} (target 1)"
    )


def bench_burst(tenant, base: str) -> None:
    from django.conf import settings

    from attune_qbo.billing import services
    from attune_qbo.billing.services import LineData
    from integrations.models import QuickBooksSyncLog

    print("\n## Burst: 50 edits inside the debounce window")
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 10
    invoice = make_invoice(tenant, 3)
    for quantity in range(1, 51):
        services.invoice_update(invoice=invoice, lines=[LineData(product=tenant["product"], quantity=quantity)])
    entries = QuickBooksSyncLog.objects.filter(object_id=invoice.pk)
    before = simulator_state(base)["api_calls"]
    QuickBooksSyncLog.objects.filter(pk__in=entries.values("pk")).update(next_attempt_at=dt.datetime.now(dt.UTC))
    for entry in entries:
        push(entry)
    writes = simulator_state(base)["api_calls"] - before
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    print(
        f"50 edits → {entries.count()} sync entry, {entries.filter(status='succeeded').count()} push, "
        f"{writes} API call(s) to QuickBooks (target: exactly one push)"
    )


def bench_throughput(tenant, base: str, count: int, workers: int) -> None:
    import requests
    from django.db import connections

    from integrations.models import QuickBooksSyncLog
    from integrations.outbox.worker import sync_run

    print(f"\n## Throughput: {count} invoices, one call per invoice, {workers} worker threads, rate limits on")
    requests.post(
        f"{base}/simulator/control/settings", json={"rate_limits": True}, headers=control_headers(), timeout=10
    )
    invoices = [make_invoice(tenant, 3) for _ in range(count)]
    ids = set(
        QuickBooksSyncLog.objects.filter(object_id__in=[i.pk for i in invoices], status="pending").values_list(
            "pk", flat=True
        )
    )
    state_before = simulator_state(base)
    stop = time.monotonic() + 15 * 60

    def worker() -> None:
        try:
            while time.monotonic() < stop:
                due = list(
                    QuickBooksSyncLog.objects.filter(
                        pk__in=ids, status="pending", next_attempt_at__lte=dt.datetime.now(dt.UTC)
                    )
                    .order_by("?")
                    .values_list("pk", flat=True)[:20]
                )
                if not due:
                    if not QuickBooksSyncLog.objects.filter(pk__in=ids, status__in=["pending", "running"]).exists():
                        return
                    time.sleep(0.2)
                    continue
                for entry_id in due:
                    sync_run(entry_id=entry_id)
        finally:
            connections.close_all()

    started, started_wall = time.perf_counter(), time.time()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    state_after = simulator_state(base)
    calls = state_after["api_calls"] - state_before["api_calls"]
    done = QuickBooksSyncLog.objects.filter(pk__in=ids, status="succeeded").count()
    throttled = sum(QuickBooksSyncLog.objects.filter(pk__in=ids).values_list("throttled", flat=True))
    # The simulator, like Intuit, counts per calendar minute: over this run the ceiling is 500 for every minute
    # window the run touched.
    windows = int(time.time() // 60) - int(started_wall // 60) + 1
    print(
        f"{done}/{count} pushed in {elapsed:.1f} s ({done / elapsed * 60:.0f} invoices/min); {calls} accepted API "
        f"calls in {windows} minute window(s) = {calls / (CEILING_PER_MINUTE * windows):.0%} of the "
        f"{CEILING_PER_MINUTE}/min per-realm ceiling; {throttled} answers were 429 (waited out, none lost)"
    )
    print(
        f"QuickBooks now holds {state_after['counts']['Invoice']} invoices (no duplicates: "
        f"{state_after['counts']['Invoice'] - state_before['counts']['Invoice'] == done})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = free_port()
    env = configure(database_url, port)
    server = start_server(env, port)
    try:
        import django

        django.setup()
        from unittest import mock

        base = f"http://127.0.0.1:{port}"
        tenant = make_tenant(port, "Bench Co")
        print(f"attune-qbo push benchmark · database {database_url.split(':')[0]} · simulator {base}")
        count_calls()
        with mock.patch("integrations.outbox.enqueue.dispatch", lambda entry_id: None):  # this process is the worker
            bench_queries_and_cpu(tenant)
            bench_burst(tenant, base)
            if not args.skip_throughput:
                bench_throughput(tenant, base, args.invoices, args.workers)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
