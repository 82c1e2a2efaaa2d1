"""Customers and Items: names unique per company (case-insensitive), no colons, required references."""

from __future__ import annotations

from . import faults
from .models import SimCompany, SimEntity
from .sales import CURRENCY_NAMES, active_reference
from .store import as_number, is_empty, money, prune

DISPLAY_NAME_MAX = 500
ITEM_NAME_MAX = 100
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
CUSTOMER_PASSTHROUGH = (
    "Title",
    "GivenName",
    "MiddleName",
    "FamilyName",
    "Suffix",
    "CompanyName",
    "PrimaryPhone",
    "Mobile",
    "AlternatePhone",
    "Fax",
    "WebAddr",
    "BillAddr",
    "ShipAddr",
    "Notes",
    "DefaultTaxCodeRef",
    "SalesTermRef",
    "PaymentMethodRef",
    "ResaleNum",
    "PrimaryTaxIdentifier",
    "CustomField",
    "Taxable",
)
ITEM_TYPES = ("Service", "NonInventory")


def _check_name(name: str, element: str, maximum: int) -> str:
    name = name.strip()
    if len(name) > maximum:
        raise faults.string_length(element, maximum, len(name))
    if ":" in name:
        raise faults.business_validation(f"The {element} can't contain a colon (:).", element)
    return name


def _unique_name(company: SimCompany, entity_type: str, name: str, existing: SimEntity | None, kind: str):
    clash = SimEntity.objects.filter(
        company=company, entity_type=entity_type, name_key=name.lower(), deleted=False
    )
    if existing is not None:
        clash = clash.exclude(pk=existing.pk)
    if clash.exists():
        raise faults.duplicate_name(kind)


def _active(data: dict) -> bool:
    value = data.get("Active", True)
    if isinstance(value, str):
        return value.lower() != "false"
    return bool(value)


def build_customer(company: SimCompany, data: dict, *, existing: SimEntity | None) -> tuple[dict, dict]:
    display_name = data.get("DisplayName")
    if display_name in (None, ""):
        display_name = " ".join(str(data[p]) for p in NAME_PARTS if data.get(p))
    if not str(display_name).strip():
        raise faults.required_param("DisplayName")
    display_name = _check_name(str(display_name), "DisplayName", DISPLAY_NAME_MAX)
    _unique_name(company, "Customer", display_name, existing, "customer, vendor or employee")
    email = None if is_empty(data.get("PrimaryEmailAddr")) else prune(data["PrimaryEmailAddr"])
    if email is not None:
        address = str((email or {}).get("Address", ""))
        if address and ("@" not in address or "." not in address.split("@")[-1]):
            raise faults.business_validation("Invalid email address format", "PrimaryEmailAddr")
    currency = ((data.get("CurrencyRef") or {}).get("value")) or company.home_currency
    if currency != company.home_currency and not company.multicurrency_enabled:
        raise faults.business_validation("Multicurrency is not enabled for this company", "CurrencyRef")
    if existing is not None:
        old_currency = (existing.body.get("CurrencyRef") or {}).get("value")
        has_transactions = SimEntity.objects.filter(
            company=company, customer_ref=existing.entity_id, deleted=False
        ).exists()
        if old_currency and currency != old_currency and has_transactions:
            raise faults.business_validation(
                "You can't change the currency of a customer that has transactions.", "CurrencyRef"
            )
    body = {key: prune(data[key]) for key in CUSTOMER_PASSTHROUGH if not is_empty(data.get(key))}
    body.update(
        {
            "DisplayName": display_name,
            "FullyQualifiedName": display_name,
            "PrintOnCheckName": data.get("PrintOnCheckName") or display_name,
            "CurrencyRef": {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)},
            "Job": False,
            "BillWithParent": False,
            "Balance": existing.body.get("Balance", 0) if existing else 0,
            "BalanceWithJobs": existing.body.get("BalanceWithJobs", 0) if existing else 0,
            "PreferredDeliveryMethod": data.get("PreferredDeliveryMethod") or "Print",
        }
    )
    if email is not None:
        body["PrimaryEmailAddr"] = email
    body.setdefault("Taxable", company.country == "US")
    columns = {"name": display_name, "name_key": display_name.lower(), "active": _active(data)}
    return body, columns


def build_item(company: SimCompany, data: dict, *, existing: SimEntity | None) -> tuple[dict, dict]:
    name = data.get("Name")
    if name in (None, "") or not str(name).strip():
        raise faults.required_param("Name")
    name = _check_name(str(name), "Name", ITEM_NAME_MAX)
    item_type = data.get("Type") or "Service"
    if item_type not in ITEM_TYPES:
        raise faults.invalid_enumeration("Type", item_type)
    _unique_name(company, "Item", name, existing, "product or service")
    account = active_reference(
        company, "Account", (data.get("IncomeAccountRef") or {}).get("value"), "IncomeAccountRef"
    )
    body = {
        "Name": name,
        "FullyQualifiedName": name,
        "Type": item_type,
        "IncomeAccountRef": {"value": account.entity_id, "name": account.name},
        "Taxable": bool(data.get("Taxable", company.country == "US")),
        "TrackQtyOnHand": False,
    }
    if not is_empty(data.get("UnitPrice")):
        try:
            body["UnitPrice"] = as_number(money(data["UnitPrice"]))
        except ValueError:
            raise faults.business_validation("UnitPrice must be a number", "UnitPrice") from None
    for key in ("Description", "Sku", "SalesTaxCodeRef", "PurchaseDesc"):
        if not is_empty(data.get(key)):
            body[key] = prune(data[key])
    columns = {"name": name, "name_key": name.lower(), "active": _active(data)}
    return body, columns
