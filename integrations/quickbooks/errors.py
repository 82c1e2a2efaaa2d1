"""Turn Intuit's error answers into typed errors, in one place (QBO-REFERENCE §3).

Handles the `Fault` JSON (`{"Fault": {"Error": [...], "type": ...}}`), the gateway's lowercase variant
(`{"fault": {"error": [...]}}`), and the odd XML body that throttling has been seen to return even to
`Accept: application/json`.
"""

from __future__ import annotations

import email.utils
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses Intuit's error bodies only, no entities expanded
from dataclasses import dataclass

import requests

from integrations.exceptions import (
    DuplicateDocNumber,
    Forbidden,
    NotFound,
    QuickBooksError,
    StaleObject,
    Throttled,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from integrations.quickbooks.constants import INTUIT_TID_HEADER

CODE_AUTHENTICATION_FAILED = "3200"
CODE_AUTHORIZATION_FAILURE = "120"
CODE_APPLICATION_AUTHORIZATION_FAILED = "3100"
CODE_THROTTLED = "3001"
CODE_STALE_OBJECT = "5010"
CODE_DUPLICATE_DOC_NUMBER = "6140"
CODE_DUPLICATE_NAME = "6240"
CODE_OBJECT_NOT_FOUND = "610"
CODE_LINE_AMOUNT_MISMATCH = "6070"
DEFAULT_THROTTLE_WAIT_SECONDS = 60  # "wait 60 seconds before retrying" (§3.4)


@dataclass(frozen=True)
class FaultDetail:
    code: str = ""
    message: str = ""
    detail: str = ""
    element: str = ""
    fault_type: str = ""


def _lower_keys(value):
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def parse_fault_json(body) -> FaultDetail | None:
    if not isinstance(body, dict) or not ("Fault" in body or "fault" in body):
        return None  # the common case: a successful answer, not walked
    body = _lower_keys(body)
    fault = body.get("fault")
    if not isinstance(fault, dict):
        return None
    errors = fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors else {}
    return FaultDetail(
        code=str(first.get("code", "")).lstrip("0") or str(first.get("code", "")),
        message=str(first.get("message", "")),
        detail=str(first.get("detail", "")),
        element=str(first.get("element", "")),
        fault_type=str(fault.get("type", "")),
    )


def parse_fault_xml(text: str) -> FaultDetail | None:
    try:
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Error":
            children = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
            return FaultDetail(
                code=element.attrib.get("code", ""),
                message=children.get("Message", ""),
                detail=children.get("Detail", ""),
                element=element.attrib.get("element", ""),
            )
    return None


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def fault_of(response: requests.Response) -> FaultDetail:
    try:
        fault = parse_fault_json(response.json())
    except ValueError:
        fault = parse_fault_xml(response.text) if response.text.lstrip().startswith("<") else None
    return fault or FaultDetail()


def from_response(response: requests.Response) -> QuickBooksError:
    """The typed error for an error answer (or a 200 that carries a Fault)."""
    fault = fault_of(response)
    return error_for(
        status=response.status_code,
        fault=fault,
        intuit_tid=response.headers.get(INTUIT_TID_HEADER, ""),
        retry_after=response.headers.get("Retry-After"),
    )


def error_for(
    *, status: int, fault: FaultDetail, intuit_tid: str = "", retry_after: str | None = None
) -> QuickBooksError:
    """The typed error for an HTTP status and a parsed Fault (also for Faults inside a 200 answer)."""
    code = fault.code
    message = fault.message or f"QuickBooks answered HTTP {status}"
    kwargs = {"status": status, "code": code, "detail": fault.detail, "intuit_tid": intuit_tid}
    if status == 429 or code == CODE_THROTTLED:
        return Throttled(message, retry_after=parse_retry_after(retry_after), **kwargs)
    if status == 401 or code in (CODE_AUTHENTICATION_FAILED, CODE_AUTHORIZATION_FAILURE):
        return Unauthorized(message, **kwargs)
    if status >= 500:
        return Unavailable(message, **kwargs)
    if status == 403 or code == CODE_APPLICATION_AUTHORIZATION_FAILED:
        return Forbidden(message, **kwargs)
    if code == CODE_STALE_OBJECT:
        return StaleObject(message, **kwargs)
    if code == CODE_DUPLICATE_DOC_NUMBER:
        return DuplicateDocNumber(message, **kwargs)
    if code == CODE_OBJECT_NOT_FOUND or status == 404:
        return NotFound(message, **kwargs)
    return ValidationFailed(message, **kwargs)
