"""What the Settings page lists under "Integrations". Integrations register themselves here at app
start-up, so billing never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class IntegrationEntry:
    name: str
    description: str
    url_name: str
    status: Callable[[object], str] | None = None  # company -> short status text
    invoice_panel: Callable[[object, object], str] | None = None  # (request, invoice) -> HTML for the invoice page


_REGISTRY: list[IntegrationEntry] = []


def register(entry: IntegrationEntry) -> None:
    if all(existing.url_name != entry.url_name for existing in _REGISTRY):
        _REGISTRY.append(entry)


def available_integrations(request) -> list[dict]:
    rows = []
    for entry in _REGISTRY:
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        status = entry.status(request.company) if entry.status else ""
        rows.append({"name": entry.name, "description": entry.description, "url": url, "status": status})
    return rows


def invoice_panels(request, invoice) -> list[str]:
    """HTML panels the integrations add to an invoice's page (e.g. its QuickBooks sync status)."""
    return [entry.invoice_panel(request, invoice) for entry in _REGISTRY if entry.invoice_panel]
