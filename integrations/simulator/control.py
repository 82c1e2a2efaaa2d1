"""Switches that make the simulator misbehave on purpose, its counters, and reset.

Everything lives in the database because several threads (runserver) and processes (a django-q2
worker) share it; switches are consumed with conditional F() updates, so two concurrent calls never
consume the same unit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from . import limits, webhooks
from .models import (
    FaultKind,
    FaultTarget,
    SimAuthorizationCode,
    SimCompany,
    SimControl,
    SimEntity,
    SimFaultSwitch,
    SimGrant,
    SimIdempotentResponse,
    SimRateWindow,
    SimWebhookDelivery,
    SimWebhookEvent,
)
from .seed import seed_sample_companies

logger = logging.getLogger(__name__)

TOKEN_KINDS = frozenset(
    {FaultKind.INVALID_GRANT, FaultKind.HTTP_500, FaultKind.TIMEOUT, FaultKind.TIMEOUT_AFTER_WRITE}
)
API_KINDS = frozenset(
    {
        FaultKind.HTTP_401,
        FaultKind.HTTP_429,
        FaultKind.HTTP_500,
        FaultKind.TIMEOUT,
        FaultKind.TIMEOUT_AFTER_WRITE,
    }
)
WEBHOOK_KINDS = frozenset(
    {
        FaultKind.DROP,
        FaultKind.DELAY,
        FaultKind.DUPLICATE,
        FaultKind.REORDER,
        FaultKind.CORRUPT_SIGNATURE,
    }
)
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_SLEEP_SECONDS = 600.0


class ControlError(ValueError):
    """A control request that makes no sense; the message says why."""


@dataclass(frozen=True)
class ArmedFault:
    kind: str
    seconds: float


def control_row() -> SimControl:
    row = SimControl.objects.filter(pk=1).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return SimControl.objects.create(pk=1)
    except IntegrityError:  # another thread created it first
        return SimControl.objects.get(pk=1)


def rate_limits_enabled(row: SimControl | None = None) -> bool:
    row = row or control_row()
    if row.rate_limits_enabled is not None:
        return row.rate_limits_enabled
    return bool(getattr(settings, "QUICKBOOKS_SIMULATOR_RATE_LIMITS", True))


def send_retry_after(row: SimControl | None = None) -> bool:
    row = row or control_row()
    if row.send_retry_after is not None:
        return row.send_retry_after
    return bool(getattr(settings, "QUICKBOOKS_SIMULATOR_SEND_RETRY_AFTER", True))


def time_scale(row: SimControl | None = None) -> float:
    """How many times faster than real time the per-minute limits pass (1 = Intuit's own minute)."""
    row = row or control_row()
    value = row.time_scale if row.time_scale is not None else getattr(settings, "QUICKBOOKS_SIMULATOR_TIME_SCALE", 1)
    return max(float(value or 1), 0.001)


def arm_fault(*, target: str, kind: str, count: int = 1, realm_id: str = "", seconds=None) -> SimFaultSwitch:
    """Make the next `count` calls to `target` (for `realm_id`, or any realm) fail with `kind`."""
    if target not in FaultTarget.values:
        raise ControlError("target must be 'token', 'api' or 'webhook'")
    allowed = {FaultTarget.TOKEN: TOKEN_KINDS, FaultTarget.API: API_KINDS, FaultTarget.WEBHOOK: WEBHOOK_KINDS}[
        target
    ]
    if kind not in allowed:
        raise ControlError(f"kind for target {target} must be one of {sorted(allowed)}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ControlError("count must be a positive integer")
    if seconds is None:
        seconds = DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise ControlError("seconds must be a number") from None
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        raise ControlError(f"seconds must be between 0 and {MAX_SLEEP_SECONDS:g}")
    realm_id = str(realm_id or "")
    if realm_id and target == FaultTarget.WEBHOOK:
        raise ControlError("webhook switches apply to every delivery: leave realm_id out")
    if realm_id and not SimCompany.objects.filter(realm_id=realm_id).exists():
        raise ControlError("unknown realm_id")
    switch = SimFaultSwitch.objects.create(
        target=target,
        kind=kind,
        remaining=count,
        realm_id=realm_id,
        seconds=seconds,
        created_at=timezone.now(),
    )
    logger.info("simulator.fault.armed target=%s kind=%s count=%s realm=%s", target, kind, count, realm_id)
    return switch


def clear_faults(*, target: str | None = None, realm_id: str | None = None) -> int:
    switches = SimFaultSwitch.objects.all()
    if target:
        switches = switches.filter(target=target)
    if realm_id:
        switches = switches.filter(realm_id=realm_id)
    deleted, _ = switches.delete()
    return deleted


def take_fault(target: str, realm_id: str, *, writing: bool) -> ArmedFault | None:
    """Consume one unit of the oldest switch that applies to this call, if any.

    `timeout_after_write` only applies to calls that write; reads pass it by.
    """
    candidates = SimFaultSwitch.objects.filter(target=target, remaining__gt=0).filter(
        Q(realm_id="") | Q(realm_id=realm_id)
    )
    if not writing:
        candidates = candidates.exclude(kind=FaultKind.TIMEOUT_AFTER_WRITE)
    for switch in candidates.order_by("id"):
        consumed = SimFaultSwitch.objects.filter(pk=switch.pk, remaining__gt=0).update(
            remaining=F("remaining") - 1
        )
        if consumed:
            logger.info("simulator.fault.fired target=%s kind=%s realm=%s", target, switch.kind, realm_id)
            return ArmedFault(kind=switch.kind, seconds=switch.seconds)
    return None


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def update_settings(data: dict) -> SimControl:
    """Toggle rate limits / Retry-After (true, false, or null = follow Django settings) and limit sizes."""
    row = control_row()
    for name in ("rate_limits_enabled", "send_retry_after"):
        alias = {"rate_limits_enabled": "rate_limits"}.get(name, name)
        key = name if name in data else alias
        if key in data:
            if data[key] is not None and not isinstance(data[key], bool):
                raise ControlError(f"{key} must be true, false or null")
            setattr(row, name, data[key])
    for name in ("requests_per_minute", "concurrent_requests", "batch_requests_per_minute"):
        if name in data:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ControlError(f"{name} must be a positive integer")
            setattr(row, name, value)
    if "time_scale" in data:
        value = data["time_scale"]
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or not 0.01 <= value <= 1000
        ):
            raise ControlError("time_scale must be a number between 0.01 and 1000, or null (follow the setting)")
        row.time_scale = None if value is None else float(value)
    if "tax_rounding" in data:
        if data["tax_rounding"] not in ("half_up", "down"):
            raise ControlError("tax_rounding must be half_up or down")
        row.tax_rounding = data["tax_rounding"]
    if "realm_id" in data and "latency_ms" in data:
        set_latency(str(data["realm_id"]), data["latency_ms"])
    row.save()
    return row


def set_latency(realm_id: str, latency_ms) -> None:
    if not isinstance(latency_ms, int) or isinstance(latency_ms, bool) or not 0 <= latency_ms <= 600_000:
        raise ControlError("latency_ms must be an integer between 0 and 600000")
    if not SimCompany.objects.filter(realm_id=realm_id).update(latency_ms=latency_ms):
        raise ControlError("unknown realm_id")


def settings_snapshot(row: SimControl | None = None) -> dict:
    row = row or control_row()
    return {
        "rate_limits": rate_limits_enabled(row),
        "send_retry_after": send_retry_after(row),
        "requests_per_minute": row.requests_per_minute,
        "concurrent_requests": row.concurrent_requests,
        "batch_requests_per_minute": row.batch_requests_per_minute,
        "time_scale": time_scale(row),
        "tax_rounding": row.tax_rounding,
    }


def count_token_call(realm_id: str) -> None:
    control_row()
    SimControl.objects.filter(pk=1).update(token_calls=F("token_calls") + 1)
    if realm_id:
        SimCompany.objects.filter(realm_id=realm_id).update(token_calls=F("token_calls") + 1)


def count_api_calls(
    company: SimCompany, calls: int = 1, *, reads: int = 0, writes: int = 0, batch_items: int = 0, batch: bool = False
) -> None:
    """Meter one request: `calls` metered calls (a batch's items each count, §2.6) and the same by kind."""
    SimCompany.objects.filter(pk=company.pk).update(
        api_calls=F("api_calls") + calls,
        read_calls=F("read_calls") + reads,
        write_calls=F("write_calls") + writes,
        batch_items=F("batch_items") + batch_items,
        batch_requests=F("batch_requests") + (1 if batch else 0),
    )


@transaction.atomic
def reset() -> None:
    """Wipe everything the simulator holds and seed the sample companies again."""
    for model in (
        SimWebhookEvent,
        SimWebhookDelivery,
        SimIdempotentResponse,
        SimEntity,
        SimAuthorizationCode,
        SimGrant,
        SimFaultSwitch,
        SimRateWindow,
        SimControl,
        SimCompany,
    ):
        model.objects.all().delete()
    limits.reset_in_flight()
    seed_sample_companies(SimCompany, SimEntity, timezone.now())
    logger.info("simulator.reset")


def fault_snapshot(switch: SimFaultSwitch) -> dict:
    return {
        "id": switch.pk,
        "target": switch.target,
        "realm_id": switch.realm_id or None,
        "kind": switch.kind,
        "remaining": switch.remaining,
        "seconds": switch.seconds,
    }


def state(realm_id: str | None = None) -> dict:
    """Counts for assertions in tests: calls, objects per type, grants, armed switches."""
    row = control_row()
    data = {
        "total_token_calls": row.token_calls,
        "settings": settings_snapshot(row),
        "faults": [fault_snapshot(s) for s in SimFaultSwitch.objects.filter(remaining__gt=0)],
        "webhooks": webhooks.settings_snapshot(row),
    }
    companies = SimCompany.objects.all()
    if realm_id:
        companies = companies.filter(realm_id=realm_id)
        if not companies.exists():
            raise ControlError("unknown realm_id")
    realms = []
    for company in companies:
        per_type = dict(
            SimEntity.objects.filter(company=company, deleted=False)
            .order_by()
            .values_list("entity_type")
            .annotate(n=Count("id"))
            .values_list("entity_type", "n")
        )
        realms.append(
            {
                "realm_id": company.realm_id,
                "name": company.name,
                "token_calls": company.token_calls,
                "api_calls": company.api_calls,
                "calls": {
                    "reads": company.read_calls,
                    "writes": company.write_calls,
                    "batch_requests": company.batch_requests,
                    "batch_items": company.batch_items,
                },
                "latency_ms": company.latency_ms,
                "active_grants": SimGrant.objects.filter(company=company, revoked_at__isnull=True).count(),
                "counts": {
                    name: per_type.get(name, 0)
                    for name in ("Customer", "Item", "Account", "TaxCode", "TaxRate", "Invoice", "Payment")
                },
                "voided_invoices": SimEntity.objects.filter(
                    company=company, entity_type="Invoice", voided=True, deleted=False
                ).count(),
                "in_flight": limits.in_flight(company.realm_id),
            }
        )
    data["realms"] = realms
    if realm_id:
        data.update(realms[0])
    return data
