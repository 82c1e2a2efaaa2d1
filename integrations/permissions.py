"""Who sees what of the QuickBooks connection: one rule for the settings page and the status API
(docs/decisions/0005-roles-and-quickbooks-visibility.md).

- Everyone in the company (member and up) sees whether QuickBooks is connected, to which QuickBooks company,
  in which environment, and when an invoice last went over.
- Staff and admins also see the operational details: realm id, who connected and when, token renewal and
  expiry dates, the last error, sync counts and the latest failures.
- Admins alone connect, reconnect and disconnect.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from attune_qbo.tenants.models import Role

# What a member sees (page and API alike). Everything else in a ConnectionStatusReport is operational.
MEMBER_VISIBLE_STATUS_FIELDS = ("status", "status_label", "company_name", "environment", "last_synced_at")


def can_view_quickbooks_operations(membership) -> bool:
    """Staff and admins see the connection's operational details; members do not."""
    return membership is not None and membership.has_role(Role.STAFF)


def can_manage_quickbooks_connection(membership) -> bool:
    """Connect, reconnect, disconnect, edit mappings: admins only."""
    return membership is not None and membership.has_role(Role.ADMIN)


def visible_connection_status(report, membership) -> dict[str, Any]:
    """The part of a `ConnectionStatusReport` this membership may see, plus `details_visible`."""
    data = asdict(report)
    full = can_view_quickbooks_operations(membership)
    if not full:
        data = {name: data[name] for name in MEMBER_VISIBLE_STATUS_FIELDS}
    data["details_visible"] = full
    return data
