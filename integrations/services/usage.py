"""Calls to Intuit per connection and month: reads (metered, "CorePlus") and writes (QBO-REFERENCE §0 #6).

One counter (decision 0018): every call through the client is counted once, per realm and calendar month, where it
is paced (`integrations/quickbooks/limiter.py`, the realm's `QuickBooksRealmPace` row; no extra query per call).
A batch counts its items, as Intuit meters them. This module only reads it.

Intuit's free tier allows `QUICKBOOKS_MONTHLY_READ_ALLOWANCE` reads a month per app; past it, reads stop and every
customer sees the app as Offline, so admins are warned at `QUICKBOOKS_READ_WARNING_SHARE` of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from integrations.models import QuickBooksConnection, QuickBooksRealmPace


@dataclass(frozen=True)
class CallUsage:
    month: str  # YYYY-MM (UTC)
    reads: int
    writes: int
    read_allowance: int
    read_share: float  # of the monthly allowance
    warning: str  # empty unless reads passed the warning share

    @property
    def read_percent(self) -> float:
        """The share of the monthly allowance in percent, one decimal (for pages)."""
        return round(self.read_share * 100, 1)


def connection_usage(*, connection: QuickBooksConnection) -> CallUsage:
    """This calendar month's reads and writes for the connection's QuickBooks company, with a warning when reads
    pass the configured share of the monthly allowance."""
    month = timezone.now().strftime("%Y-%m")
    row = (
        QuickBooksRealmPace.objects.filter(realm_id=connection.realm_id, month=month)
        .values_list("reads", "writes")
        .first()
        if connection.realm_id
        else None
    )
    reads, writes = row or (0, 0)
    allowance = int(settings.QUICKBOOKS_MONTHLY_READ_ALLOWANCE)
    share = reads / allowance if allowance > 0 else 0.0
    warning = ""
    if allowance > 0 and share >= float(settings.QUICKBOOKS_READ_WARNING_SHARE):
        warning = (
            f"QuickBooks reads this month: {reads:,} of the {allowance:,} Intuit allows ({share:.0%}). Past the "
            "allowance Intuit blocks reads until next month and shows the app as Offline to every customer."
        )
    return CallUsage(
        month=month, reads=reads, writes=writes, read_allowance=allowance, read_share=share, warning=warning
    )
