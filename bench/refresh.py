"""Benchmark: the 45-minute token refresh sweep over 10,000 connections, as production runs it (prints figures).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/attune_bench_refresh .venv/bin/python bench/refresh.py
    ... bench/refresh.py --connections 2000          # a smaller run

What runs: the simulator's OAuth server as a real HTTP server (`manage.py runserver`, threaded, as `scripts/run`
serves it), one real django-q2 cluster (`manage.py qcluster`) with 2 workers (Q_WORKERS=2, the default) on the
ORM broker, and the scheduled task itself (`integrations.services.tasks.refresh_sweep`) queued once: it queues the
due connections in chunks, and the two workers refresh them at QUICKBOOKS_REFRESH_PER_MINUTE between them. Each
connection has its own QuickBooks company (realm), grant and single-use refresh token at the simulator, which
rotates every refresh token it is shown (QBO-REFERENCE §1.5): a lost or replayed token would end that grant.

Printed: the time from queueing the sweep to the last connection refreshed, as a ratio to the 5-minute target
(issue 11 item 6), the token-endpoint rate against the configured pace, the most calls any one realm received
(Intuit: 800/min per realm+app for its non-QBO endpoints, QBO-REFERENCE §3.4), and how many connections are still
connected with a refresh token the simulator still accepts. Needs PostgreSQL (three processes write at once); the
database named by DATABASE_URL is dropped and re-created.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 5 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of the one qcluster")
    parser.add_argument("--give-up-after", type=float, default=20 * 60, help="seconds")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)  # internal: the simulator server
    args = parser.parse_args()
    if args.serve:
        serve_simulator(args.serve)
        return
    if not args.database_url.startswith("postgres"):
        parser.error("needs PostgreSQL: set DATABASE_URL=postgres://... (three processes write at once)")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": args.database_url,
        "QUICKBOOKS_ENVIRONMENT": "simulator",
        "QUICKBOOKS_SIMULATOR_BASE_URL": f"http://127.0.0.1:{port}",
        "Q_WORKERS": str(args.workers),
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
    }
    os.environ.update(env)
    recreate_postgres_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    quiet_other_schedules()
    seed(args.connections)
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-refresh-{port}"
    logs.mkdir(exist_ok=True)
    server = start([sys.executable, __file__, "--serve", str(port)], env, logs / "server")
    cluster = None
    try:
        wait_for_server(port)
        cluster = start([sys.executable, "manage.py", "qcluster"], env, logs / "qcluster")
        time.sleep(3)  # the cluster spawns its workers
        cpu_before = tree_cpu_seconds([server.pid, cluster.pid])
        elapsed = run_sweep(args.connections, args.give_up_after, server)
        cpu = tree_cpu_seconds([server.pid, cluster.pid]) - cpu_before
    finally:
        for process in (cluster, server):
            if process is not None:
                process.terminate()
        for process in (cluster, server):
            if process is not None:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
    report(args.connections, elapsed, args.workers, logs, cpu)


def serve_simulator(port: int) -> None:
    """runserver (threaded, as `scripts/run` serves the simulator), started through this file so that its
    command line is ours alone."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def recreate_postgres_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def quiet_other_schedules() -> None:
    """The other schedules (sync sweeper every minute, CDC, purges, retention) would share the two workers; they
    are moved a day ahead so the figure is the sweep's alone. The sweep itself is queued by hand (below), exactly
    as the scheduler queues it every 45 minutes."""
    import datetime as dt

    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.update(next_run=timezone.now() + dt.timedelta(days=1))


def seed(count: int) -> None:
    """`count` companies, each connected to its own simulator realm with a live grant: an access token about to
    expire (due for the sweep) and a single-use refresh token the simulator knows (only its hash)."""
    import datetime as dt
    import secrets

    from django.db import transaction
    from django.utils import timezone

    from attune_qbo.tenants.models import Company
    from config import keys
    from integrations.models import QuickBooksConnection
    from integrations.simulator.models import SimCompany, SimGrant, SimToken
    from integrations.simulator.oauth import hash_token

    started = time.perf_counter()
    now = timezone.now()
    client_id = keys.quickbooks_client_id()
    with transaction.atomic():
        realms = SimCompany.objects.bulk_create(
            (
                SimCompany(
                    realm_id=f"4620{i:012d}",
                    name=f"Bench Books {i}",
                    legal_name=f"Bench Books {i} LLC",
                    country="US",
                    home_currency="USD",
                    tax_style="us",
                    created_at=now,
                )
                for i in range(count)
            ),
            batch_size=2000,
        )
        grants = SimGrant.objects.bulk_create(
            (
                SimGrant(
                    company=realm,
                    client_id=client_id,
                    scope="com.intuit.quickbooks.accounting",
                    created_at=now,
                    hard_expires_at=now + dt.timedelta(days=1800),
                )
                for realm in realms
            ),
            batch_size=2000,
        )
        tokens = [
            (f"sim-at-bench-{secrets.token_urlsafe(24)}", f"sim-rt-bench-{secrets.token_urlsafe(24)}") for _ in grants
        ]
        SimToken.objects.bulk_create(
            (
                SimToken(grant=grant, kind=kind, token_hash=hash_token(value), created_at=now, expires_at=expires)
                for grant, (access, refresh) in zip(grants, tokens, strict=True)
                for kind, value, expires in (
                    ("access", access, now + dt.timedelta(minutes=10)),
                    ("refresh", refresh, now + dt.timedelta(days=100)),
                )
            ),
            batch_size=4000,
        )
        companies = Company.objects.bulk_create(
            (Company(name=f"Bench tenant {i}", slug=f"bench-tenant-{i}") for i in range(count)), batch_size=2000
        )
        QuickBooksConnection.objects.bulk_create(
            (
                QuickBooksConnection(
                    company=company,
                    status="connected",
                    realm_id=realm.realm_id,
                    environment="simulator",
                    access_token_cipher=access,
                    refresh_token_cipher=refresh,
                    # Due within the next 10 minutes, spread so the sweep takes the most urgent first.
                    access_token_expires_at=now + dt.timedelta(seconds=60 + 540 * i / count),
                    refresh_token_expires_at=now + dt.timedelta(days=100),
                    refresh_token_hard_expires_at=now + dt.timedelta(days=1800),
                    connected_at=now,
                    realm_connected_at=now,
                    qbo_company_name=realm.name,
                    company_info_fetched_at=now,
                    tax_style="us",
                    home_currency="USD",
                )
                for i, (company, realm, (access, refresh)) in enumerate(zip(companies, realms, tokens, strict=True))
            ),
            batch_size=2000,
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    print(f"seeded {count:,} connections, each with its own simulator realm and grant, in {seconds:.1f} s")


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(f"{log}.log", "w")  # noqa: SIM115  closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_for_server(port: int) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/simulator/", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit("the simulator server did not start (see its log)")


def run_sweep(count: int, give_up_after: float, server: subprocess.Popen) -> float:
    """Queue the scheduled task once and wait for every connection to be refreshed (or marked otherwise)."""
    from django.utils import timezone
    from django_q.tasks import async_task

    from integrations.models import QuickBooksConnection

    since = timezone.now()
    started = time.monotonic()
    async_task("integrations.services.tasks.refresh_sweep", group="bench")
    last_print = 0.0
    while True:
        done = QuickBooksConnection.objects.filter(last_refreshed_at__gte=since).count()
        gone = QuickBooksConnection.objects.exclude(status="connected").count()
        elapsed = time.monotonic() - started
        if elapsed - last_print >= 15:
            print(f"  {elapsed:6.0f} s: {done:,} refreshed, {gone:,} not connected")
            last_print = elapsed
        if done + gone >= count:
            return elapsed
        if server.poll() is not None:
            print(f"the simulator server stopped after {elapsed:.0f} s (exit {server.returncode}); see its log")
            return elapsed
        if elapsed > give_up_after:
            print(f"gave up after {elapsed:.0f} s")
            return elapsed
        time.sleep(0.5)


def tree_cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of these processes and their descendants so far (Linux /proc), PostgreSQL excluded."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime + stime
    wanted, changed = set(roots), True
    while changed:
        grown = wanted | {pid for pid, (ppid, _) in stats.items() if ppid in wanted}
        changed, wanted = grown != wanted, grown
    return sum(stats[pid][1] for pid in wanted if pid in stats) / ticks


def report(count: int, elapsed: float, workers: int, logs: Path, cpu: float) -> None:
    from django.db.models import Max

    from integrations.conf import quickbooks_config
    from integrations.models import QuickBooksConnection
    from integrations.simulator.models import SimCompany, SimToken
    from integrations.simulator.oauth import hash_token

    pace = quickbooks_config().refresh_per_minute
    connected = QuickBooksConnection.objects.filter(status="connected")
    refreshed = connected.filter(last_refreshed_at__isnull=False).count()
    stored = [c.refresh_token_cipher.reveal() for c in connected.only("refresh_token_cipher")]
    live = SimToken.objects.filter(
        kind="refresh", used_at__isnull=True, revoked_at__isnull=True, token_hash__in=[hash_token(t) for t in stored]
    ).count()
    busiest = SimCompany.objects.aggregate(most=Max("token_calls"))["most"] or 0
    rate = refreshed / elapsed * 60 if elapsed else 0
    print(f"\nrefresh sweep over {count:,} connections, 1 qcluster with {workers} workers, simulator over HTTP:")
    print(f"  elapsed: {elapsed:.1f} s = {elapsed / TARGET_SECONDS:.2f}× the 5-minute target")
    print(f"  token endpoint: {rate:,.0f} refreshes/min = {rate / pace:.2f}× the configured pace of {pace:,}/min")
    print(f"  most token calls to one realm: {busiest} (Intuit allows 800/min per realm+app)")
    print(f"  connections still connected: {connected.count():,}/{count:,} (refreshed: {refreshed:,})")
    print(f"  refresh tokens the simulator still accepts: {live:,}/{count:,}")
    per = cpu / max(refreshed, 1)
    idle = max(count / (pace / 60), count * per / max(os.cpu_count() or 1, 1))
    print(f"  CPU of the workers and the simulator server: {per * 1000:.1f} ms a refresh (PostgreSQL not counted)")
    print(
        f"  floor on {os.cpu_count()} idle CPUs (the pace or that CPU, whichever is slower): {idle:.0f} s = "
        f"{idle / TARGET_SECONDS:.2f}× the target"
    )
    print(f"  (load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; logs in {logs})")


if __name__ == "__main__":
    main()
