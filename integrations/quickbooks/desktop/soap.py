"""The SOAP 1.1 envelope of the QBWC protocol, by hand (docs/decisions/0012-qbwc-soap-by-hand.md).

The Web Connector speaks document/literal SOAP with eight methods whose parameters are strings and ints, so
the whole protocol is: find the method element in the body, read its child elements, answer
`<methodResponse><methodResult>…</methodResult></methodResponse>`. Parsing goes through `xmlsafe.parse_xml`
(no DOCTYPE, no entities); answers are built with ElementTree, so text is always escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from integrations.quickbooks.desktop.constants import (
    QBWC_METHODS,
    QBWC_NAMESPACE,
    SOAP12_ENV_NAMESPACE,
    SOAP_ENV_NAMESPACE,
)
from integrations.quickbooks.desktop.exceptions import DesktopProtocolError
from integrations.quickbooks.desktop.xmlsafe import child, local_name, parse_xml

# Each method's parameters, in WSDL order, with their XSD type.
PARAMETERS: dict[str, tuple[tuple[str, str], ...]] = {
    "serverVersion": (),
    "clientVersion": (("strVersion", "string"),),
    "authenticate": (("strUserName", "string"), ("strPassword", "string")),
    "sendRequestXML": (
        ("ticket", "string"),
        ("strHCPResponse", "string"),
        ("strCompanyFileName", "string"),
        ("qbXMLCountry", "string"),
        ("qbXMLMajorVers", "int"),
        ("qbXMLMinorVers", "int"),
    ),
    "receiveResponseXML": (("ticket", "string"), ("response", "string"), ("hresult", "string"), ("message", "string")),
    "connectionError": (("ticket", "string"), ("hresult", "string"), ("message", "string")),
    "getLastError": (("ticket", "string"),),
    "closeConnection": (("ticket", "string"),),
}
RESULT_TYPES = {"authenticate": "tns:ArrayOfString", "receiveResponseXML": "s:int"}


@dataclass(frozen=True)
class SoapCall:
    method: str
    params: dict[str, str]

    def param(self, name: str) -> str:
        return self.params.get(name, "")

    def int_param(self, name: str) -> int:
        try:
            return int(self.params.get(name, "") or 0)
        except ValueError as exc:
            raise DesktopProtocolError(f"{name} must be a whole number.", reason="bad_parameter") from exc


def parse_call(body: bytes) -> SoapCall:
    """Read one QBWC call from a SOAP request body (SOAP 1.1 or 1.2)."""
    envelope = parse_xml(body, what="SOAP request")
    if envelope.tag not in (f"{{{SOAP_ENV_NAMESPACE}}}Envelope", f"{{{SOAP12_ENV_NAMESPACE}}}Envelope"):
        raise DesktopProtocolError("The request is not a SOAP envelope.", reason="not_soap")
    body_element = child(envelope, "Body")
    if body_element is None or len(body_element) == 0:
        raise DesktopProtocolError("The SOAP envelope has no body.", reason="not_soap")
    call = body_element[0]
    method = local_name(call.tag)
    if method not in QBWC_METHODS or not call.tag.startswith(f"{{{QBWC_NAMESPACE}}}"):
        raise DesktopProtocolError(f"“{method[:60]}” is not a Web Connector method.", reason="unknown_method")
    params = {local_name(item.tag): item.text or "" for item in call}
    return SoapCall(method=method, params=params)


def _envelope() -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(f"{{{SOAP_ENV_NAMESPACE}}}Envelope")
    return envelope, ET.SubElement(envelope, f"{{{SOAP_ENV_NAMESPACE}}}Body")


def _serialise(envelope: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


ET.register_namespace("soap", SOAP_ENV_NAMESPACE)


def render_result(method: str, result: str | int | list[str]) -> bytes:
    """`<methodResponse xmlns="http://developer.intuit.com/"><methodResult>…` for one answer."""
    envelope, body = _envelope()
    response = ET.SubElement(body, f"{{{QBWC_NAMESPACE}}}{method}Response")
    result_element = ET.SubElement(response, f"{{{QBWC_NAMESPACE}}}{method}Result")
    if isinstance(result, list):
        for value in result:
            ET.SubElement(result_element, f"{{{QBWC_NAMESPACE}}}string").text = value
    else:
        result_element.text = str(result)
    return _serialise(envelope)


def render_fault(message: str, *, client_fault: bool = True) -> bytes:
    envelope, body = _envelope()
    fault = ET.SubElement(body, f"{{{SOAP_ENV_NAMESPACE}}}Fault")
    ET.SubElement(fault, "faultcode").text = "soap:Client" if client_fault else "soap:Server"
    ET.SubElement(fault, "faultstring").text = message
    return _serialise(envelope)


def render_wsdl(location: str) -> bytes:
    """The service description: document/literal, the QBWC namespace, one operation per method."""
    xsd = "http://www.w3.org/2001/XMLSchema"
    wsdl = "http://schemas.xmlsoap.org/wsdl/"
    soap = "http://schemas.xmlsoap.org/wsdl/soap/"
    ET.register_namespace("wsdl", wsdl)
    ET.register_namespace("s", xsd)
    ET.register_namespace("soapbind", soap)
    ET.register_namespace("tns", QBWC_NAMESPACE)
    # `tns:` only appears inside attribute values, so ElementTree would not declare it by itself.
    root = ET.Element(
        f"{{{wsdl}}}definitions",
        {"targetNamespace": QBWC_NAMESPACE, "name": "QBWebConnectorSvc", "xmlns:tns": QBWC_NAMESPACE},
    )
    types = ET.SubElement(root, f"{{{wsdl}}}types")
    schema = ET.SubElement(
        types, f"{{{xsd}}}schema", {"elementFormDefault": "qualified", "targetNamespace": QBWC_NAMESPACE}
    )
    array = ET.SubElement(schema, f"{{{xsd}}}complexType", {"name": "ArrayOfString"})
    ET.SubElement(
        ET.SubElement(array, f"{{{xsd}}}sequence"),
        f"{{{xsd}}}element",
        {"minOccurs": "0", "maxOccurs": "unbounded", "name": "string", "nillable": "true", "type": "s:string"},
    )
    for method, params in PARAMETERS.items():
        request = ET.SubElement(ET.SubElement(schema, f"{{{xsd}}}element", {"name": method}), f"{{{xsd}}}complexType")
        sequence = ET.SubElement(request, f"{{{xsd}}}sequence")
        for name, kind in params:
            attrs = {"minOccurs": "1" if kind == "int" else "0", "maxOccurs": "1", "name": name, "type": f"s:{kind}"}
            ET.SubElement(sequence, f"{{{xsd}}}element", attrs)
        response = ET.SubElement(
            ET.SubElement(schema, f"{{{xsd}}}element", {"name": f"{method}Response"}), f"{{{xsd}}}complexType"
        )
        result_type = RESULT_TYPES.get(method, "s:string")
        ET.SubElement(
            ET.SubElement(response, f"{{{xsd}}}sequence"),
            f"{{{xsd}}}element",
            {
                "minOccurs": "1" if result_type == "s:int" else "0",
                "maxOccurs": "1",
                "name": f"{method}Result",
                "type": result_type,
            },
        )
    for method in PARAMETERS:
        for direction, element in (("In", method), ("Out", f"{method}Response")):
            message = ET.SubElement(root, f"{{{wsdl}}}message", {"name": f"{method}Soap{direction}"})
            ET.SubElement(message, f"{{{wsdl}}}part", {"name": "parameters", "element": f"tns:{element}"})
    port_type = ET.SubElement(root, f"{{{wsdl}}}portType", {"name": "QBWebConnectorSvcSoap"})
    for method in PARAMETERS:
        operation = ET.SubElement(port_type, f"{{{wsdl}}}operation", {"name": method})
        ET.SubElement(operation, f"{{{wsdl}}}input", {"message": f"tns:{method}SoapIn"})
        ET.SubElement(operation, f"{{{wsdl}}}output", {"message": f"tns:{method}SoapOut"})
    binding = ET.SubElement(
        root, f"{{{wsdl}}}binding", {"name": "QBWebConnectorSvcSoap", "type": "tns:QBWebConnectorSvcSoap"}
    )
    ET.SubElement(binding, f"{{{soap}}}binding", {"transport": "http://schemas.xmlsoap.org/soap/http"})
    for method in PARAMETERS:
        operation = ET.SubElement(binding, f"{{{wsdl}}}operation", {"name": method})
        ET.SubElement(
            operation, f"{{{soap}}}operation", {"soapAction": f"{QBWC_NAMESPACE}{method}", "style": "document"}
        )
        for direction in ("input", "output"):
            ET.SubElement(ET.SubElement(operation, f"{{{wsdl}}}{direction}"), f"{{{soap}}}body", {"use": "literal"})
    service = ET.SubElement(root, f"{{{wsdl}}}service", {"name": "QBWebConnectorSvc"})
    port = ET.SubElement(
        service, f"{{{wsdl}}}port", {"name": "QBWebConnectorSvcSoap", "binding": "tns:QBWebConnectorSvcSoap"}
    )
    ET.SubElement(port, f"{{{soap}}}address", {"location": location})
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)
