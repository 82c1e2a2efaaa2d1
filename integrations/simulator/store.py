"""Reading and writing the generic entity table, and rendering rows as Intuit JSON."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db.models import Max
from django.utils import timezone

from .faults import qbo_time
from .models import SimCompany, SimEntity
from .seed import seed_sample_companies
from .webhooks import record as record_webhook_event

# Entities whose rows carry an Active flag (name lists) rather than a voided/deleted state.
NAME_LISTS = frozenset({"Customer", "Item", "Account", "TaxCode", "TaxRate"})
CENT = Decimal("0.01")


def ensure_seeded() -> None:
    """Re-create the sample companies if the tables were emptied (e.g. flushed by a transactional test)."""
    if not SimCompany.objects.exists():
        seed_sample_companies(SimCompany, SimEntity, timezone.now())


def get_company(realm_id: str) -> SimCompany | None:
    company = SimCompany.objects.filter(realm_id=realm_id).first()
    if company is None and not SimCompany.objects.exists():
        ensure_seeded()
        company = SimCompany.objects.filter(realm_id=realm_id).first()
    return company


def lock_company(company: SimCompany) -> SimCompany:
    """Serialise writes per realm (sequences, uniqueness checks, requestid replay). Call inside atomic()."""
    return SimCompany.objects.select_for_update().get(pk=company.pk)


# Objects written by earlier items of the batch being run: later items of the same batch cannot see them
# (QBO-REFERENCE §2.6, "items cannot see earlier items in the same batch").
_unseen: contextvars.ContextVar[frozenset] = contextvars.ContextVar("sim_batch_unseen", default=frozenset())


@contextmanager
def unseen(objects: set[tuple[str, str]]):
    """While running one batch item: `objects` ((entity type, id) pairs) do not exist for it."""
    token = _unseen.set(frozenset(objects))
    try:
        yield
    finally:
        _unseen.reset(token)


def is_unseen(entity_type: str, entity_id) -> bool:
    return (entity_type, str(entity_id)) in _unseen.get()


def find(company: SimCompany, entity_type: str, entity_id) -> SimEntity | None:
    if entity_id is None or is_unseen(entity_type, entity_id):
        return None
    return SimEntity.objects.filter(
        company=company, entity_type=entity_type, entity_id=str(entity_id)
    ).first()


def next_entity_id(company: SimCompany, entity_type: str) -> int:
    current = SimEntity.objects.filter(company=company, entity_type=entity_type).aggregate(m=Max("number"))[
        "m"
    ]
    return (current or 0) + 1


def money(value) -> Decimal:
    """A Decimal from a JSON number or string; raises ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(value) from exc


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def as_number(value: Decimal) -> float | int:
    """JSON numbers the way Intuit prints them (275.0, 12.5)."""
    return float(value)


def render(entity: SimEntity, company: SimCompany) -> dict:
    """The object as the API returns it."""
    if entity.deleted:
        return {
            "Id": entity.entity_id,
            "status": "Deleted",
            "domain": "QBO",
            "MetaData": {"LastUpdatedTime": qbo_time(entity.updated_at)},
        }
    data = {key: value for key, value in entity.body.items() if not key.startswith("_")}
    if entity.entity_type in NAME_LISTS:
        data["Active"] = entity.active
    data.update(
        {
            "domain": "QBO",
            "sparse": False,
            "Id": entity.entity_id,
            "SyncToken": str(entity.sync_token),
            "MetaData": {
                "CreateTime": qbo_time(entity.created_at),
                "LastUpdatedTime": qbo_time(entity.updated_at),
            },
        }
    )
    return data


def create_entity(
    company: SimCompany, entity_type: str, body: dict, *, columns: dict, now: datetime | None = None
) -> SimEntity:
    now = now or timezone.now()
    number = next_entity_id(company, entity_type)
    entity = SimEntity.objects.create(
        company=company,
        entity_type=entity_type,
        entity_id=str(number),
        number=number,
        body=body,
        created_at=now,
        updated_at=now,
        **columns,
    )
    record_webhook_event(entity, "Create")
    return entity


def save_entity(
    entity: SimEntity,
    body: dict,
    *,
    columns: dict | None = None,
    now: datetime | None = None,
    event: str = "Update",
) -> SimEntity:
    """Store a new version: bumps SyncToken and LastUpdatedTime, and notes the change for the webhook
    (`event`: Update, Void or Delete)."""
    entity.body = body
    for name, value in (columns or {}).items():
        setattr(entity, name, value)
    entity.sync_token += 1
    entity.updated_at = now or timezone.now()
    entity.save()
    record_webhook_event(entity, event)
    return entity


def is_empty(value) -> bool:
    """Nothing set: None, "", an empty list, or an object whose fields are all empty."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return False


def prune(value):
    """The value without its empty parts, so answers never echo "" or {} for things that aren't set."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if not is_empty(v)}
    if isinstance(value, list):
        return [prune(v) for v in value if not is_empty(v)]
    return value


def ref(entity: SimEntity) -> dict:
    return {"value": entity.entity_id, "name": entity.name} if entity.name else {"value": entity.entity_id}
