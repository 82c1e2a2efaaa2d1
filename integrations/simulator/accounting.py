"""The Accounting API's operations: read, create, update (full and sparse), void, delete, query, batch,
CDC, CompanyInfo and Preferences. Views call these; everything here raises `ApiFault` on refusal.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from . import faults, query, sales
from .faults import PACIFIC, ApiFault, qbo_time
from .models import SimCompany, SimEntity, SimIdempotentResponse, TaxStyle
from .name_lists import build_customer, build_item
from .store import create_entity, find, is_empty, is_unseen, lock_company, render, save_entity, unseen

logger = logging.getLogger(__name__)

ENTITY_SLUGS = {
    "customer": "Customer",
    "item": "Item",
    "account": "Account",
    "taxcode": "TaxCode",
    "taxrate": "TaxRate",
    "invoice": "Invoice",
    "payment": "Payment",
}
WRITABLE = frozenset({"Customer", "Item", "Invoice", "Payment"})
DELETABLE = frozenset({"Invoice", "Payment"})
CDC_ENTITIES = frozenset({"Customer", "Item", "Account", "Invoice", "Payment"})
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
BATCH_MAX_ITEMS = 30
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX = 10  # each bId when the batch carries a requestid (§2.8)
READ_ONLY_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time")
# Computed by QuickBooks: never taken from a request (create or update).
COMPUTED_FIELDS = {
    "Customer": ("Balance", "BalanceWithJobs", "FullyQualifiedName"),
    "Item": ("FullyQualifiedName",),
    "Invoice": ("TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "LinkedTxn"),
    "Payment": ("UnappliedAmt",),
}


def writable_fields(entity_type: str, data: dict) -> dict:
    """The request without read-only and computed fields (TxnTaxDetail keeps TxnTaxCodeRef and TotalTax)."""
    skip = set(READ_ONLY_FIELDS) | set(COMPUTED_FIELDS.get(entity_type, ()))
    fields = {key: value for key, value in data.items() if key not in skip}
    if isinstance(fields.get("TxnTaxDetail"), dict):
        fields["TxnTaxDetail"] = {
            key: value
            for key, value in fields["TxnTaxDetail"].items()
            if key in ("TxnTaxCodeRef", "TotalTax")
        }
    return fields


def envelope(company: SimCompany, key: str, payload) -> dict:
    return {key: payload, "time": qbo_time()}


# --- Company ---------------------------------------------------------------------------------------------


def _address(company: SimCompany) -> dict:
    address = {
        "Id": "1",
        "Line1": company.address_line1,
        "City": company.city,
        "Country": company.country,
        "PostalCode": company.postal_code,
    }
    if company.region:
        address["CountrySubDivisionCode"] = company.region
    return address


def _meta(company: SimCompany) -> dict:
    created = qbo_time(company.created_at)
    return {"CreateTime": created, "LastUpdatedTime": created}


def company_info(company: SimCompany) -> dict:
    return {
        "CompanyName": company.name,
        "LegalName": company.legal_name,
        "CompanyAddr": _address(company),
        "CustomerCommunicationAddr": _address(company),
        "LegalAddr": _address(company),
        "CustomerCommunicationEmailAddr": {"Address": company.email},
        "Email": {"Address": company.email},
        "CompanyStartDate": company.created_at.astimezone(ZoneInfo(company.time_zone)).date().isoformat(),
        "FiscalYearStartMonth": company.fiscal_year_start_month,
        "Country": company.country,
        "SupportedLanguages": "en",
        "DefaultTimeZone": company.time_zone,
        "NameValue": [
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
            {"Name": "IsSimulator", "Value": "true"},
        ],
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "1",
        "MetaData": _meta(company),
    }


def preferences(company: SimCompany) -> dict:
    return {
        "AccountingInfoPrefs": {
            "FirstMonthOfFiscalYear": company.fiscal_year_start_month,
            "UseAccountNumbers": False,
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": False,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": False,
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": True,
            "AllowDeposit": False,
            "AllowDiscount": False,
            "AllowEstimates": True,
            "AllowServiceDate": True,
            "AllowShipping": False,
            "AutoApplyCredit": True,
            "ETransactionEnabledStatus": "NotApplicable",
        },
        "TaxPrefs": {
            "UsingSalesTax": True,
            # Automated Sales Tax (QBO-REFERENCE §5.1): detect it with PartnerTaxEnabled.
            "PartnerTaxEnabled": company.automated_sales_tax,
            **(
                {"TaxGroupCodeRef": {"value": "2"}}
                if company.tax_style == TaxStyle.US and not company.automated_sales_tax
                else {}
            ),
        },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": company.multicurrency_enabled,
            "HomeCurrency": {"value": company.home_currency},
        },
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "1",
        "MetaData": _meta(company),
    }


# --- Reads -----------------------------------------------------------------------------------------------


def read(company: SimCompany, entity_type: str, entity_id: str) -> dict:
    entity = find(company, entity_type, entity_id)
    if entity is None or entity.deleted:
        raise faults.object_not_found(entity_type, entity_id)
    return envelope(company, entity_type, render(entity, company))


def run_query(company: SimCompany, text: str) -> dict:
    """The QueryResponse object for a query string."""
    if not text or not text.strip():
        raise faults.required_param("query")
    parsed = query.parse(text)
    if parsed.entity in query.SINGLETONS:
        single = company_info(company) if parsed.entity == "CompanyInfo" else preferences(company)
        if parsed.count:
            return {"totalCount": 1}
        return {parsed.entity: [single], "startPosition": 1, "maxResults": 1}
    rows, total = query.run(company, parsed)
    rows = [row for row in rows if not is_unseen(row.entity_type, row.entity_id)]  # inside a batch (§2.6)
    if parsed.count:
        return {"totalCount": total}
    if not rows:
        return {}
    return {
        parsed.entity: [render(row, company) for row in rows],
        "startPosition": parsed.start_position,
        "maxResults": len(rows),
    }


# --- Writes ----------------------------------------------------------------------------------------------


def _options(include: str) -> set[str]:
    return {part.strip().lower() for part in (include or "").split(",") if part.strip()}


def _is_sparse(data: dict) -> bool:
    value = data.get("sparse")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _existing_for_update(company: SimCompany, entity_type: str, data: dict) -> SimEntity:
    entity_id = str(data.get("Id") or "")
    if not entity_id:
        raise faults.required_param("Id")
    entity = find(company, entity_type, entity_id)
    if entity is None or entity.deleted:
        raise faults.object_not_found(entity_type, entity_id)
    if data.get("SyncToken") in (None, ""):
        raise faults.required_param("SyncToken")
    if str(data["SyncToken"]) != str(entity.sync_token):
        raise faults.stale_object()
    return entity


def _build(
    company: SimCompany, entity_type: str, data: dict, existing: SimEntity | None, options: set[str]
) -> tuple[dict, dict]:
    if entity_type == "Customer":
        return build_customer(company, data, existing=existing)
    if entity_type == "Item":
        return build_item(company, data, existing=existing)
    return sales.build_invoice(
        company, data, existing=existing, allow_duplicate_doc_number="allowduplicatedocnum" in options
    )


def _create(company: SimCompany, entity_type: str, data: dict, options: set[str]) -> SimEntity:
    if entity_type == "Payment":
        body, columns, to_apply = sales.build_payment(company, data)
        payment = create_entity(company, "Payment", body, columns=columns)
        sales.apply_payment(company, payment, to_apply)
        return payment
    body, columns = _build(company, entity_type, writable_fields(entity_type, data), None, options)
    return create_entity(company, entity_type, body, columns=columns)


def _update(company: SimCompany, entity_type: str, data: dict, options: set[str]) -> SimEntity:
    entity = _existing_for_update(company, entity_type, data)
    if entity_type == "Payment":
        return sales.update_payment(company, entity, data, sparse=_is_sparse(data))
    if entity.voided:
        raise faults.business_validation("This transaction has been voided and can't be changed.")
    incoming = writable_fields(entity_type, data)
    if _is_sparse(data):
        # Sparse: fields omitted are kept, fields sent empty ("", null, {}) are ignored — a sparse update
        # never clears anything (QBO-REFERENCE §2.4). The stored tax total is computed, not "sent".
        stored = writable_fields(
            entity_type, {key: value for key, value in entity.body.items() if not key.startswith("_")}
        )
        if isinstance(stored.get("TxnTaxDetail"), dict):
            stored["TxnTaxDetail"] = {
                key: value for key, value in stored["TxnTaxDetail"].items() if key == "TxnTaxCodeRef"
            }
        if entity_type in ("Customer", "Item"):
            stored["Active"] = entity.active
        merged = {**stored, **{key: value for key, value in incoming.items() if not is_empty(value)}}
        if isinstance(incoming.get("TxnTaxDetail"), dict) and isinstance(stored.get("TxnTaxDetail"), dict):
            # Sending only TotalTax must not drop the stored TxnTaxCodeRef (sparse never clears).
            merged["TxnTaxDetail"] = {
                **stored["TxnTaxDetail"],
                **{k: v for k, v in incoming["TxnTaxDetail"].items() if not is_empty(v)},
            }
    else:
        # Full: every writable field omitted is cleared (or back to its default).
        merged = incoming
    body, columns = _build(company, entity_type, merged, entity, options)
    return save_entity(entity, body, columns=columns)


def write(company: SimCompany, entity_type: str, data, *, operation: str = "", include: str = "") -> dict:
    """One create/update/void/delete, inside the caller's transaction (the realm row is locked)."""
    if not isinstance(data, dict):
        raise faults.malformed_request("The request body must be a JSON object")
    if entity_type not in WRITABLE:
        raise faults.unsupported_operation(f"{operation or 'create'} on {entity_type}")
    options = _options(include)
    operation = (operation or "").lower()
    if operation == "delete":
        if entity_type not in DELETABLE:
            raise faults.unsupported_operation(f"delete on {entity_type} (make it inactive instead)")
        entity = _existing_for_update(company, entity_type, data)
        if entity_type == "Invoice" and sales.money(entity.body.get("_applied", 0)) > 0:
            raise faults.business_validation(
                "This invoice has payments applied to it. Delete the payments first."
            )
        if entity_type == "Payment" and not entity.voided:
            sales.unapply_payment(company, entity)
        entity.deleted = True
        save_entity(entity, entity.body, event="Delete")
        logger.info(
            "simulator.api.deleted realm=%s type=%s id=%s", company.realm_id, entity_type, entity.entity_id
        )
        return envelope(company, entity_type, {"status": "Deleted", "domain": "QBO", "Id": entity.entity_id})
    if operation == "void" and entity_type != "Invoice":
        # Intuit voids payments and sales receipts by a sparse update with include=void; `operation=void` is the
        # invoice's form only (QBO-REFERENCE §2.1, python-quickbooks VoidMixin).
        raise faults.unsupported_operation(f"operation=void on {entity_type} (use operation=update&include=void)")
    if operation == "void" or (operation == "update" and "void" in options):
        entity = _existing_for_update(company, entity_type, data)
        if entity_type == "Invoice":
            entity = sales.void_invoice(entity)
        elif entity_type == "Payment":
            entity = sales.void_payment(company, entity)
        else:
            raise faults.unsupported_operation(f"void on {entity_type}")
        return envelope(company, entity_type, render(entity, company))
    if operation not in ("", "create", "update"):
        raise faults.unsupported_operation(operation)
    if data.get("Id") not in (None, ""):
        entity = _update(company, entity_type, data, options)
    elif operation == "update":
        raise faults.required_param("Id")
    else:
        entity = _create(company, entity_type, data, options)
    logger.info(
        "simulator.api.written realm=%s type=%s id=%s", company.realm_id, entity_type, entity.entity_id
    )
    return envelope(company, entity_type, render(entity, company))


def check_request_id(request_id: str | None, maximum: int = REQUEST_ID_MAX) -> str:
    request_id = request_id or ""
    if len(request_id) > maximum:
        raise faults.string_length("requestid", maximum, len(request_id))
    return request_id


def idempotent(company: SimCompany, request_id: str, perform) -> tuple[int, dict]:
    """Run a write under the realm lock; with a requestid, replay a stored success instead of repeating it.

    Only successful answers are stored, so a retry after a refused request is evaluated afresh.
    """
    with transaction.atomic():
        locked = lock_company(company)
        if request_id:
            stored = SimIdempotentResponse.objects.filter(company=locked, request_id=request_id).first()
            if stored is not None:
                logger.info("simulator.api.replayed realm=%s", company.realm_id)
                return stored.status, stored.body
        try:
            with transaction.atomic():
                body = perform(locked)
        except ApiFault as fault:
            return fault.status, fault.body()
        if request_id:
            SimIdempotentResponse.objects.create(
                company=locked, request_id=request_id, status=200, body=body, created_at=timezone.now()
            )
        return 200, body


# --- Batch -----------------------------------------------------------------------------------------------


def _batch_item(company: SimCompany, item, written: set[tuple[str, str]]) -> dict:
    if not isinstance(item, dict) or not item.get("bId"):
        raise faults.malformed_request("Each BatchItemRequest needs a bId")
    bid = str(item["bId"])
    try:
        with transaction.atomic(), unseen(written):
            if "Query" in item:
                return {"bId": bid, "QueryResponse": run_query(company, item["Query"])}
            entity_keys = [key for key in item if key in ENTITY_SLUGS.values()]
            if len(entity_keys) != 1:
                raise faults.malformed_request("A batch item needs exactly one entity object or a Query")
            entity_type = entity_keys[0]
            options = str(item.get("optionsData") or "")
            operation = str(item.get("operation") or "create")
            if operation not in ("create", "update", "delete"):
                raise faults.unsupported_operation(operation)
            if operation == "update" and "void" in _options(options):
                operation = "void"
            response = write(company, entity_type, item[entity_type], operation=operation, include=options)
            if operation == "create" and response[entity_type].get("Id"):
                written.add((entity_type, str(response[entity_type]["Id"])))
            return {"bId": bid, entity_type: response[entity_type]}
    except ApiFault as fault:
        return {"bId": bid, "Fault": fault.fault()}


def check_batch_ids(data) -> None:
    """With a requestid, each bId is at most 10 characters (§2.8): the whole batch is refused otherwise."""
    items = data.get("BatchItemRequest") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        bid = str(item.get("bId") or "") if isinstance(item, dict) else ""
        if len(bid) > BATCH_ID_MAX:
            raise faults.string_length("bId", BATCH_ID_MAX, len(bid))


def batch(company: SimCompany, data) -> dict:
    """Items run one after another, each in its own savepoint; a refused item doesn't undo the others, and no
    item sees what an earlier item of the same batch created (§2.6). A Fault in an item comes with HTTP 200."""
    items = data.get("BatchItemRequest") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise faults.required_param("BatchItemRequest")
    if len(items) > BATCH_MAX_ITEMS:
        raise faults.batch_too_large(len(items), BATCH_MAX_ITEMS)
    bids = [str(item.get("bId")) for item in items if isinstance(item, dict)]
    if len(set(bids)) != len(bids):
        raise faults.malformed_request("bId values must be unique within a batch")
    written: set[tuple[str, str]] = set()
    return {
        "BatchItemResponse": [_batch_item(company, item, written) for item in items],
        "time": qbo_time(),
    }


def batch_size(data) -> int:
    items = data.get("BatchItemRequest") if isinstance(data, dict) else None
    return len(items) if isinstance(items, list) else 1


def batch_queries(data) -> int:
    items = data.get("BatchItemRequest") if isinstance(data, dict) else None
    return sum(1 for i in items if isinstance(i, dict) and "Query" in i) if isinstance(items, list) else 0


def batch_writes(data) -> bool:
    items = data.get("BatchItemRequest") if isinstance(data, dict) else None
    return isinstance(items, list) and any(isinstance(i, dict) and "Query" not in i for i in items)


# --- Change data capture -------------------------------------------------------------------------------


def _cdc_fault(detail: str, element: str) -> ApiFault:
    return ApiFault("4001", "Invalid query", f"QueryValidationError: {detail}", element=element)


def cdc(company: SimCompany, entities: str, changed_since: str) -> dict:
    names = [name.strip() for name in (entities or "").split(",") if name.strip()]
    if not names:
        raise faults.required_param("entities")
    if not changed_since:
        raise faults.required_param("changedSince")
    wanted = []
    for name in names:
        canonical = next((e for e in ENTITY_SLUGS.values() if e.lower() == name.lower()), None)
        if canonical is None or canonical not in CDC_ENTITIES:
            raise _cdc_fault(f"CDC is not supported for entity {name}", "entities")
        wanted.append(canonical)
    try:
        since = datetime.fromisoformat(changed_since.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _cdc_fault(f"changedSince is not a date/time: {changed_since}", "changedSince") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=PACIFIC)  # read as Pacific, like Intuit's own times (§2.4)
    if timezone.now() - since > CDC_LOOKBACK:
        raise _cdc_fault("changedSince must be within the last 30 days", "changedSince")
    responses, budget = [], CDC_MAX_OBJECTS
    for entity_type in wanted:
        rows = list(
            SimEntity.objects.filter(company=company, entity_type=entity_type, updated_at__gt=since).order_by(
                "updated_at", "number"
            )[:budget]
        )
        budget -= len(rows)
        if rows:
            responses.append(
                {
                    entity_type: [render(row, company) for row in rows],
                    "startPosition": 1,
                    "maxResults": len(rows),
                    "totalCount": len(rows),
                }
            )
        else:
            responses.append({})
    return {"CDCResponse": [{"QueryResponse": responses}], "time": qbo_time()}
