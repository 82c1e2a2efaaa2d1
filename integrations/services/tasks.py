"""django-q2 task entry points: thin, take ids, return quietly when there is nothing to do."""

from __future__ import annotations

from integrations.outbox.worker import sync_drain, sync_sweep
from integrations.services.connections import connection_refresh_chunk, connection_refresh_sweep_dispatch

# Scheduled by migrations integrations/0002 (refresh_sweep, every 45 min), 0005 (sync_sweeper, every minute) and
# 0010 (cdc_sweeper, every QUICKBOOKS_CDC_MINUTES).


def refresh_sweep() -> str:
    """Queues the due connections in chunks (`refresh_chunk`), paced across the workers."""
    report = connection_refresh_sweep_dispatch()
    return f"due={report.considered} chunks={report.chunks}"


def refresh_chunk(connection_ids: list[int]) -> str:
    report = connection_refresh_chunk(connection_ids=connection_ids)
    return (
        f"considered={report.considered} refreshed={report.refreshed} deferred={report.deferred} "
        f"needs_reconnect={report.needs_reconnect} failed={report.failed}"
    )


def run_sync(entry_id: int) -> str:
    """Queued for each new entry: a turn at the outbox that starts with this entry if it is due."""
    return sync_drain(first_entry_id=entry_id)


def drain() -> str:
    """A turn at the outbox handed over by a worker whose turn ended with work left."""
    return sync_drain()


def sync_sweeper() -> str:
    from integrations.services.events import events_sweep
    from integrations.services.payments import payments_sweep

    return f"requeued={sync_sweep()} events={events_sweep()} payments={payments_sweep()}"


def process_events() -> str:
    from integrations.services.events import events_process_pending

    return f"processed={events_process_pending()}"


def cdc_sweeper() -> str:
    from integrations.services.cdc import cdc_sweep

    return f"stored={cdc_sweep()}"
