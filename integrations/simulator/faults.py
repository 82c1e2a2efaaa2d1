"""Intuit's error bodies (QBO-REFERENCE §3), and the `intuit_tid` every response carries.

Two shapes exist at Intuit: the Accounting API's `{"Fault": {"Error": [...], "type": ...}}` and the
gateway's lower-case `{"fault": {"error": [...], "type": ...}}` used for authentication failures (§3.1).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import JsonResponse
from django.utils import timezone


def new_intuit_tid() -> str:
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


# "QBO API always returns Pacific time" (Intuit staff; QBO-REFERENCE §2.4), whatever the company's own zone.
PACIFIC = ZoneInfo("America/Los_Angeles")


def qbo_time(moment: datetime | None = None) -> str:
    """Intuit's timestamp style: Pacific time with milliseconds and the offset
    (2026-01-15T10:20:30.123-08:00, -07:00 in summer), for every company."""
    moment = moment or timezone.now()
    return moment.astimezone(PACIFIC).isoformat(timespec="milliseconds")


def json_response(data, status: int = 200, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiFault(Exception):
    """A Fault answered by the Accounting API (inside a batch item it is answered with HTTP 200)."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        *,
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
        headers: dict | None = None,
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type
        self.headers = headers or {}

    def fault(self) -> dict:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}

    def body(self) -> dict:
        return {"Fault": self.fault(), "time": qbo_time()}


class GatewayFault(ApiFault):
    """An error from Intuit's API gateway (authentication, authorization): lower-case keys, no `time`."""

    def body(self) -> dict:
        return {
            "fault": {
                "error": [{"message": self.message, "detail": self.detail, "code": self.code}],
                "type": self.fault_type,
            }
        }


# --- The catalogue -------------------------------------------------------------------------------------


def authentication_failed(detail: str = "Token expired or invalid") -> GatewayFault:
    return GatewayFault(
        "3200",
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail,
        status=401,
        fault_type="AUTHENTICATION",
    )


def authorization_failed(detail: str = "The token is not valid for this company") -> GatewayFault:
    return GatewayFault(
        "3100",
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        detail,
        status=403,
        fault_type="AUTHORIZATION",
    )


def throttled(retry_after: int | None) -> ApiFault:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ApiFault(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.",
        status=429,
        fault_type="SERVICE",
        headers=headers,
    )


def system_failure(detail: str = "System Failure Error: An unexpected error occurred") -> ApiFault:
    return ApiFault(
        "10000",
        "An application error has occurred while processing your request",
        detail,
        status=500,
        fault_type="SystemFault",
    )


def gateway_timeout() -> ApiFault:
    return ApiFault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: the request timed out",
        status=504,
        fault_type="SystemFault",
    )


def stale_object() -> ApiFault:
    return ApiFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and another user were working on this at the same time. "
        "The other user finished before you did, so your work was not saved.",
        element="SyncToken",
    )


def duplicate_doc_number(doc_number: str, txn_id: str) -> ApiFault:
    return ApiFault(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has "
        f"already been used. DocNumber={doc_number} is assigned to TxnType=Invoice with TxnId={txn_id}",
        element="DocNumber",
    )


def duplicate_name(kind: str = "customer, vendor or employee") -> ApiFault:
    return ApiFault(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {kind} is already using this name. "
        "Please use a different name.",
        element="DisplayName" if "customer" in kind else "Name",
    )


def required_param(name: str) -> ApiFault:
    return ApiFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def invalid_reference(entity_type: str, entity_id: str, element: str) -> ApiFault:
    return ApiFault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {entity_type} assigned to this transaction does not exist: Id={entity_id}",
        element=element,
    )


def object_inactive(element: str = "") -> ApiFault:
    return ApiFault(
        "610",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. Check the fields "
        "with accounts, customers, items, vendors or employees.",
        element=element,
    )


def object_not_found(entity_type: str, entity_id: str) -> ApiFault:
    return ApiFault(
        "610",
        "Object Not Found",
        f"Object Not Found : Another user has deleted this transaction. {entity_type} Id={entity_id}",
    )


def amount_mismatch(amount) -> ApiFault:
    return ApiFault(
        "6070",
        "Amount is not equal to UnitPrice * Qty",
        f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
        element="Line.Amount",
    )


def string_length(element: str, maximum: int, supplied: int) -> ApiFault:
    return ApiFault(
        "2050",
        "String length specified does not match the supported length",
        "String length is either shorter or longer than supported by specification. "
        f"Min:0 Max:{maximum} supported. Supplied length:{supplied}",
        element=element,
    )


def business_validation(detail: str, element: str = "") -> ApiFault:
    return ApiFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def invalid_us_line_tax_code(value: str) -> ApiFault:
    return ApiFault(
        "6100",
        "Invalid Line TaxCode",
        f"Valid Line TaxCodes for US should be TAX or NON. Supplied value:{value}",
        element="TaxCodeRef",
    )


def invalid_enumeration(element: str, value) -> ApiFault:
    return ApiFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=element)


def malformed_request(detail: str) -> ApiFault:
    return ApiFault("2010", "Request has invalid or unsupported property", detail)


def unsupported_operation(detail: str) -> ApiFault:
    return ApiFault("500", "Unsupported Operation", f"Operation {detail} is not supported.")


def query_parse_error(detail: str) -> ApiFault:
    return ApiFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation_error(detail: str) -> ApiFault:
    return ApiFault("4001", "Invalid query", f"QueryValidationError: {detail}")


def batch_too_large(size: int, maximum: int) -> ApiFault:
    return ApiFault(
        "1040",
        "Batch size exceeds allowed limit",
        f"The number of batch items ({size}) exceeds the maximum of {maximum}.",
    )


def method_not_allowed(method: str, allowed) -> ApiFault:
    return ApiFault(
        "405",
        "Method not allowed",
        f"{method} is not supported here; use {', '.join(allowed)}",
        status=405,
        fault_type="SERVICE",
    )


def not_found_resource(path: str) -> ApiFault:
    return ApiFault(
        "404", "Resource not found", f"Unsupported resource: {path}", status=404, fault_type="SERVICE"
    )
