"""Two django-q2 worker processes on one backlog of pushes, with the ORM broker and with Redis: every invoice
reaches QuickBooks exactly once. Needs PostgreSQL (real row locks, skip locked) and a live simulator."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection as db_connection

from integrations.models import QuickBooksLink, QuickBooksSyncLog
from tests.e2e.conftest import US_REALM, control_headers

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 24


def redis_available() -> bool:
    try:
        import redis

        return redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=1).ping()
    except Exception:  # noqa: BLE001
        return False


def start_worker(name: str, env: dict, log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_two_worker_processes_push_a_backlog_without_duplicates(broker, acme, browser, live_app, settings, tmp_path):
    if broker == "redis" and not redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()
    requests.post(
        f"{live_app}/simulator/control/settings", headers=control_headers(), json={"rate_limits": False}, timeout=10
    )

    db = db_connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "QUICKBOOKS_SIMULATOR_BASE_URL": live_app,
        "QUICKBOOKS_PUSH_DEBOUNCE_SECONDS": "0",
        "Q_WORKERS": "2",
    }
    if broker == "redis":
        env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
        settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": env["REDIS_URL"]}
        settings.Q_CLUSTER.pop("orm", None)
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    from django_q.conf import Conf

    original_broker = (Conf.ORM, Conf.REDIS)
    Conf.ORM, Conf.REDIS = (None, env["REDIS_URL"]) if broker == "redis" else ("default", None)
    workers = [start_worker(f"worker-{i}", env, tmp_path) for i in (1, 2)]
    try:
        invoices = [acme.invoice(finalize=True) for _ in range(BACKLOG)]  # each queues a task after commit
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = QuickBooksSyncLog.objects.filter(status__in=["succeeded", "failed", "dead"]).count()
            if done >= BACKLOG:
                break
            time.sleep(0.5)
    finally:
        Conf.ORM, Conf.REDIS = original_broker
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    logs = "\n".join(path.read_text()[-2000:] for path in tmp_path.glob("*.log"))
    entries = list(QuickBooksSyncLog.objects.all())
    assert len(entries) == BACKLOG, logs
    assert {e.status for e in entries} == {"succeeded"}, [e.message for e in entries if e.status != "succeeded"]
    assert all(e.attempts == 1 for e in entries)
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == BACKLOG
    state = requests.get(
        f"{live_app}/simulator/control/state", headers=control_headers(), params={"realm_id": US_REALM}, timeout=10
    ).json()
    assert state["counts"]["Invoice"] == BACKLOG  # nothing pushed twice
    assert sorted(e.object_id for e in entries) == sorted(i.pk for i in invoices)
