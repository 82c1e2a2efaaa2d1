"""Parsing XML that comes from outside (SOAP envelopes from the Web Connector, qbXML answers inside them).

defusedxml over the standard library parser: a DOCTYPE is refused outright (no internal entity tricks such as
"billion laughs", no external entities, no network), and so is any entity declaration."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from integrations.quickbooks.desktop.exceptions import DesktopProtocolError


def parse_xml(text: str | bytes, *, what: str) -> Element:
    """Parse `text` or raise `DesktopProtocolError` with a message that names `what` was refused and why."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise DesktopProtocolError(
            f"The {what} was refused: it declares a DOCTYPE or entities, which this endpoint never accepts.",
            reason="doctype",
        ) from exc
    except ParseError as exc:
        raise DesktopProtocolError(f"The {what} is not well-formed XML ({exc}).", reason="malformed") from exc


def local_name(tag: str) -> str:
    """`{namespace}name` → `name`."""
    return tag.rsplit("}", 1)[-1]


def child(element: Element | None, name: str) -> Element | None:
    """The first direct child called `name`, whatever its namespace."""
    if element is None:
        return None
    for item in element:
        if local_name(item.tag) == name:
            return item
    return None


def child_text(element: Element | None, name: str) -> str:
    found = child(element, name)
    return (found.text or "") if found is not None else ""
