"""django-q2 task entry points: thin, take ids, return quietly when there is nothing to do."""

from __future__ import annotations

from integrations.services.connections import connection_refresh_sweep
from integrations.services.sync import sync_run, sync_sweep

REFRESH_SWEEP_SCHEDULE_NAME = "quickbooks-refresh-sweep"
SYNC_SWEEP_SCHEDULE_NAME = "quickbooks-sync-sweep"


def refresh_sweep() -> str:
    report = connection_refresh_sweep()
    return f"considered={report.considered} refreshed={report.refreshed} deferred={report.deferred}"


def run_sync(entry_id: int) -> str:
    return sync_run(entry_id=entry_id)


def sync_sweeper() -> str:
    return f"requeued={sync_sweep()}"
