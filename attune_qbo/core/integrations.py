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
