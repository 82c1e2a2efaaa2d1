"""django-q2 task entry points: thin, take ids, return quietly when there is nothing to do."""

from __future__ import annotations

from integrations.services.connections import connection_refresh_sweep

REFRESH_SWEEP_SCHEDULE_NAME = "quickbooks-refresh-sweep"


def refresh_sweep() -> str:
    report = connection_refresh_sweep()
    return f"considered={report.considered} refreshed={report.refreshed} deferred={report.deferred}"
