"""What happens to every Accounting API call before and after the operation itself, in Intuit's order as
far as a client can tell: bearer authentication, throttles, injected faults, latency, the operation,
and (for `timeout_after_write`) a late answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext

from . import control, faults, limits, oauth
from .faults import ApiFault, json_response
from .models import FaultKind, FaultTarget, SimCompany
from .store import get_company

logger = logging.getLogger(__name__)

# Intuit says "wait 60 seconds" after a 429 caused by something other than our own windows.
INJECTED_THROTTLE_RETRY_AFTER = 60


def _fault_response(fault: ApiFault, company: SimCompany | None):
    return json_response(fault.body(), fault.status, fault.headers)


def _throttle(retry_after: int, send_retry_after: bool) -> ApiFault:
    return faults.throttled(retry_after if send_retry_after else None)


def handle(
    request,
    realm_id: str,
    perform: Callable[[SimCompany], tuple[int, dict]],
    *,
    writing: bool = False,
    calls: int = 1,
    is_batch: bool = False,
):
    """Run `perform(company) -> (status, body)` as an Accounting API call for `realm_id`."""
    try:
        oauth.authenticate_bearer(request.headers.get("Authorization", ""), realm_id)
    except ApiFault as fault:
        logger.info("simulator.api.unauthenticated realm=%s code=%s", realm_id, fault.code)
        return _fault_response(fault, None)
    company = get_company(realm_id)
    if company is None:  # the grant's company was removed by a reset
        return _fault_response(faults.authorization_failed(), None)
    settings_row = control.control_row()
    limited = control.rate_limits_enabled(settings_row)
    send_retry_after = control.send_retry_after(settings_row)
    try:
        slot = (
            limits.concurrency_slot(realm_id, settings_row.concurrent_requests) if limited else nullcontext()
        )
        with slot:
            if limited:
                limits.take_from_window(realm_id, "all", calls, settings_row.requests_per_minute)
                if is_batch:
                    limits.take_from_window(realm_id, "batch", 1, settings_row.batch_requests_per_minute)
            return _perform(request, company, perform, writing, calls, send_retry_after)
    except limits.LimitExceeded as exceeded:
        logger.info("simulator.api.throttled realm=%s", realm_id)
        return _fault_response(_throttle(exceeded.retry_after, send_retry_after), company)


def _perform(request, company: SimCompany, perform, writing: bool, calls: int, send_retry_after: bool):
    control.count_api_calls(company, calls)
    injected = control.take_fault(FaultTarget.API, company.realm_id, writing=writing)
    if injected is not None:
        if injected.kind == FaultKind.HTTP_401:
            return _fault_response(faults.authentication_failed(), company)
        if injected.kind == FaultKind.HTTP_429:
            return _fault_response(_throttle(INJECTED_THROTTLE_RETRY_AFTER, send_retry_after), company)
        if injected.kind == FaultKind.HTTP_500:
            return _fault_response(faults.system_failure(), company)
        if injected.kind == FaultKind.TIMEOUT:
            control.sleep(injected.seconds)
            return _fault_response(faults.gateway_timeout(), company)
    if company.latency_ms:
        control.sleep(company.latency_ms / 1000)
    try:
        status, body = perform(company)
    except ApiFault as fault:
        return _fault_response(fault, company)
    if injected is not None and injected.kind == FaultKind.TIMEOUT_AFTER_WRITE:
        control.sleep(injected.seconds)  # the write is committed; the caller has given up by now
    return json_response(body, status)
