"""What happens to every Accounting API call before and after the operation itself, in Intuit's order as
far as a client can tell: bearer authentication, throttles, injected faults, latency, the operation,
and (for `timeout_after_write`) a late answer.
"""

from __future__ import annotations

import logging
import math
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
    batch_reads: int = 0,
):
    """Run `perform(company) -> (status, body)` as an Accounting API call for `realm_id`.

    Throttles (QBO-REFERENCE §3.4): a batch is one request against the 500 a minute and one against the 40 batch
    requests a minute; its items are metered like calls (`calls`, §2.6) but do not use up the 500.
    """
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
    scale = control.time_scale(settings_row)
    try:
        slot = (
            limits.concurrency_slot(realm_id, settings_row.concurrent_requests) if limited else nullcontext()
        )
        with slot:
            if limited:
                if is_batch:  # checked first: a batch refused here does not use up one of the 500
                    limits.take_from_window(
                        realm_id, "batch", 1, settings_row.batch_requests_per_minute, time_scale=scale
                    )
                limits.take_from_window(
                    realm_id, "all", 1 if is_batch else calls, settings_row.requests_per_minute, time_scale=scale
                )
            if is_batch:
                control.count_api_calls(company, calls, batch_items=calls, reads=batch_reads, batch=True)
            else:
                control.count_api_calls(company, calls, reads=0 if writing else calls, writes=calls if writing else 0)
            return _perform(request, company, perform, writing, send_retry_after, scale)
    except limits.LimitExceeded as exceeded:
        logger.info("simulator.api.throttled realm=%s", realm_id)
        return _fault_response(_throttle(exceeded.retry_after, send_retry_after), company)


def _perform(request, company: SimCompany, perform, writing: bool, send_retry_after: bool, scale: float):
    injected = control.take_fault(FaultTarget.API, company.realm_id, writing=writing)
    if injected is not None:
        if injected.kind == FaultKind.HTTP_401:
            return _fault_response(faults.authentication_failed(), company)
        if injected.kind == FaultKind.HTTP_429:
            wait = max(1, math.ceil(INJECTED_THROTTLE_RETRY_AFTER / scale))  # Intuit's minute, time-scaled
            return _fault_response(_throttle(wait, send_retry_after), company)
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
