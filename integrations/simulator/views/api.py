"""Accounting API endpoints under /simulator/v3/company/<realm>/. Intuit's URIs are case sensitive and
have no trailing slash; `minorversion` is accepted and ignored (everything is served as 75)."""

from __future__ import annotations

from .. import accounting, faults, gateway
from ..faults import json_response
from .common import api_view, json_body


def _read_only(request, realm_id: str, build):
    """A read: `build(company)` returns the response body."""
    return gateway.handle(request, realm_id, lambda company: (200, build(company)))


@api_view(("GET",))
def company_info(request, realm_id: str, company_id: str):
    def build(company):
        if company_id != company.realm_id:
            raise faults.object_not_found("CompanyInfo", company_id)
        return accounting.envelope(company, "CompanyInfo", accounting.company_info(company))

    return _read_only(request, realm_id, build)


@api_view(("GET",))
def preferences(request, realm_id: str):
    return _read_only(
        request,
        realm_id,
        lambda company: accounting.envelope(company, "Preferences", accounting.preferences(company)),
    )


@api_view(("GET", "POST"))
def query(request, realm_id: str):
    """GET ?query=..., or POST with the query as the body (Content-Type: application/text)."""
    if request.method == "GET":
        text = request.GET.get("query", "")
    else:
        text = (
            request.POST.get("query") if request.content_type == "application/x-www-form-urlencoded" else None
        )
        text = text or request.body.decode("utf-8", "replace")
    return _read_only(
        request,
        realm_id,
        lambda company: accounting.envelope(company, "QueryResponse", accounting.run_query(company, text)),
    )


@api_view(("GET",))
def cdc(request, realm_id: str):
    return _read_only(
        request,
        realm_id,
        lambda company: accounting.cdc(
            company, request.GET.get("entities", ""), request.GET.get("changedSince", "")
        ),
    )


@api_view(("GET",))
def read_entity(request, realm_id: str, entity_slug: str, entity_id: str):
    entity_type = accounting.ENTITY_SLUGS.get(entity_slug)
    if entity_type is None:
        return json_response(faults.not_found_resource(entity_slug).body(), 404)
    return _read_only(request, realm_id, lambda company: accounting.read(company, entity_type, entity_id))


def _writing(
    request,
    realm_id: str,
    data,
    perform,
    *,
    request_id_max: int,
    calls: int = 1,
    is_batch: bool = False,
    writes: bool = True,
    batch_reads: int = 0,
):
    request_id = request.GET.get("requestid") or ""

    def run(company):
        if data is None:
            raise faults.malformed_request("The request body is not valid JSON")
        accounting.check_request_id(request_id, request_id_max)
        if is_batch and request_id:
            accounting.check_batch_ids(data)
        return accounting.idempotent(company, request_id, lambda locked: perform(locked, data))

    return gateway.handle(
        request, realm_id, run, writing=writes, calls=calls, is_batch=is_batch, batch_reads=batch_reads
    )


@api_view(("POST",))
def write_entity(request, realm_id: str, entity_slug: str):
    """Create (no Id), update (Id + SyncToken, `"sparse": true` for sparse), `?operation=void|delete`,
    `?operation=update&include=void` (payments)."""
    entity_type = accounting.ENTITY_SLUGS.get(entity_slug)
    if entity_type is None:
        return json_response(faults.not_found_resource(entity_slug).body(), 404)
    operation = request.GET.get("operation", "")
    include = request.GET.get("include", "")
    return _writing(
        request,
        realm_id,
        json_body(request),
        lambda company, data: accounting.write(
            company, entity_type, data, operation=operation, include=include
        ),
        request_id_max=accounting.REQUEST_ID_MAX,
    )


@api_view(("POST",))
def batch(request, realm_id: str):
    data = json_body(request)
    return _writing(
        request,
        realm_id,
        data,
        accounting.batch,
        request_id_max=accounting.BATCH_REQUEST_ID_MAX,
        calls=max(1, accounting.batch_size(data)),
        is_batch=True,
        writes=accounting.batch_writes(data),
        batch_reads=accounting.batch_queries(data),
    )
