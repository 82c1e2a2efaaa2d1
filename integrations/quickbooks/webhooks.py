"""Intuit webhooks: the signature and the two payload shapes (vendor facts, no database).

- Signature (QBO-REFERENCE §4.3): header `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)),
  the same for both formats; no timestamp in it (§0 #11), so events are de-duplicated by id.
- Legacy (§4.1): `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{name, id, operation,
  lastUpdated}]}}]}` — no event ids: we derive one.
- CloudEvents (§4.2): a JSON array of `{id, type: "qbo.<entity>.<op>.v1", intuitaccountid, intuitentityid,
  time, ...}`; one delivery may mix realms.

https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

SIGNATURE_HEADER = "intuit-signature"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"

# Legacy operation names → the CloudEvents verbs, so both formats normalize to one vocabulary.
LEGACY_OPERATIONS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "merge": "merged",
    "void": "voided",
    "emailed": "emailed",
}


@dataclass(frozen=True)
class WebhookEvent:
    """One change, whichever format it came in (Intuit's suggested normalization, QBO-REFERENCE §4.2)."""

    event_id: str
    realm_id: str
    entity_name: str  # Intuit's entity name, e.g. "Payment"
    entity_id: str
    operation: str  # created | updated | deleted | merged | voided
    occurred_at: str
    payload: dict | None = None  # the whole object, when it came with the change (CDC rows): no read needed


def signature_for(body: bytes, token: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, header: str | None, token: str) -> bool:
    """Constant-time check of `intuit-signature` over the raw body bytes."""
    if not header or not token:
        return False
    return hmac.compare_digest(signature_for(body, token).encode(), header.strip().encode())


def derived_event_id(realm_id: str, entity: str, entity_id: str, operation: str, when: str) -> str:
    """Legacy events and CDC rows have no id: the same change always gets the same one."""
    raw = "|".join([realm_id, entity.lower(), entity_id, operation, when])
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


_ENTITY_NAMES = {"payment": "Payment", "invoice": "Invoice", "customer": "Customer"}


def _entity_name(lower: str) -> str:
    return _ENTITY_NAMES.get(lower, lower[:1].upper() + lower[1:])


class MalformedPayload(ValueError):
    pass


def events_in(payload) -> Iterator[WebhookEvent]:
    """The events of a parsed delivery, in order. Elements that are not events are skipped; a body that is
    neither shape raises `MalformedPayload`."""
    if isinstance(payload, list):
        yield from _cloudevents(payload)
    elif isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        yield from _legacy(payload["eventNotifications"])
    else:
        raise MalformedPayload("neither a CloudEvents array nor eventNotifications")


def _text(value, limit: int) -> str:
    """A field as text, bounded, without NUL (PostgreSQL refuses it in text columns)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return ""
    return str(value).replace("\x00", "")[:limit]


def _cloudevents(items: list) -> Iterator[WebhookEvent]:
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = _text(item.get("type"), 100).split(".")
        event_id, realm, entity_id = (
            _text(item.get("id"), 80),
            _text(item.get("intuitaccountid"), 32),
            _text(item.get("intuitentityid"), 32),
        )
        if len(kind) < 3 or kind[0] != "qbo" or not (event_id and realm and entity_id):
            continue
        yield WebhookEvent(
            event_id=event_id,
            realm_id=realm,
            entity_name=_entity_name(kind[1]),
            entity_id=entity_id,
            operation=kind[2][:20],
            occurred_at=_text(item.get("time"), 40),
        )


def _legacy(notifications: list) -> Iterator[WebhookEvent]:
    for notification in notifications:
        if not isinstance(notification, dict):
            continue
        realm = _text(notification.get("realmId"), 32)
        entities = (notification.get("dataChangeEvent") or {}).get("entities")
        if not realm or not isinstance(entities, list):
            continue
        for entity in entities:
            if not isinstance(entity, dict):
                continue
            name, entity_id = _text(entity.get("name"), 40), _text(entity.get("id"), 32)
            raw_operation = _text(entity.get("operation"), 20)
            if not (name and entity_id and raw_operation):
                continue
            operation = LEGACY_OPERATIONS.get(raw_operation.lower(), raw_operation.lower())
            when = _text(entity.get("lastUpdated"), 40)
            yield WebhookEvent(
                event_id=derived_event_id(realm, name, entity_id, operation, when),
                realm_id=realm,
                entity_name=name,
                entity_id=entity_id,
                operation=operation,
                occurred_at=when,
            )
