"""Vendor facts of QuickBooks Desktop and its Web Connector, in one place (QBO-REFERENCE §6.2, §6.3; sources in
docs/developer/quickbooks-desktop.md)."""

from __future__ import annotations

# The QBWC web service's namespace: Intuit's sample service (WCWebService.asmx.cs) declares exactly this one,
# and the Web Connector sends SOAPAction "http://developer.intuit.com/<method>".
QBWC_NAMESPACE = "http://developer.intuit.com/"
SOAP_ENV_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NAMESPACE = "http://www.w3.org/2003/05/soap-envelope"

QBWC_METHODS = (
    "serverVersion",
    "clientVersion",
    "authenticate",
    "sendRequestXML",
    "receiveResponseXML",
    "connectionError",
    "getLastError",
    "closeConnection",
)

# authenticate()'s second string: "" = use the company file open in QuickBooks, "none" = nothing to do,
# "nvu" = not a valid user (QBWC shows an authentication error).
AUTH_NO_WORK = "none"
AUTH_NOT_VALID_USER = "nvu"
AUTH_CURRENT_FILE = ""

# receiveResponseXML() answers a percentage: 100 = done, less = call sendRequestXML again, negative = error
# (QBWC then calls getLastError).
PERCENT_DONE = 100
PERCENT_ERROR = -101

# connectionError() answers "done" to stop retrying another company file.
CONNECTION_ERROR_DONE = "done"

# qbXML: 13.0 is spoken by QuickBooks Desktop 2014 and later (US). The Web Connector reports the highest version
# the open file supports in sendRequestXML(qbXMLMajorVers, qbXMLMinorVers); we never send above what it reports.
QBXML_VERSION = "13.0"
QBXML_MIN_MAJOR = 13

# qbXML statusCode values (OSR / SDK Programmer's Guide, "Error codes"). 0 = OK; 1 = OK but no match (query).
STATUS_OK = "0"
STATUS_NO_MATCH = "1"
STATUS_NAME_EXISTS = "3100"  # "The name ... of the list element is already in use."
STATUS_NOT_FOUND = "3120"  # "Object specified in the request cannot be found."
STATUS_INVALID_REFERENCE = "3140"  # "There is an invalid reference to QuickBooks <list> ... in the <txn>."
STATUS_EDIT_SEQUENCE_STALE = "3200"  # "The provided edit sequence ... is out-of-date."

# Field limits of QuickBooks Desktop (US), from the OSR: longer values are refused with a parse/length error.
CUSTOMER_NAME_MAX = 41
REF_NUMBER_MAX = 11
ITEM_NAME_MAX = 31  # each segment of an item's full name
ITEM_FULL_NAME_MAX = 159
MEMO_MAX = 4095
DESC_MAX = 4095
ADDR_MAX = 41
CITY_MAX = 31
STATE_MAX = 21
POSTAL_CODE_MAX = 13
COUNTRY_MAX = 31
EMAIL_MAX = 1023
PAYMENT_REF_NUMBER_MAX = 20  # ReceivePaymentAdd/RefNumber (a check number): 20, unlike an invoice's 11
SALES_TAX_CODE_NAME_MAX = 3  # SalesTaxCodeRef/FullName: a sales tax code's name is at most 3 characters
ACCOUNT_FULL_NAME_MAX = 159  # AccountRef/FullName: parent:child, each segment at most 31
ACCOUNT_NAME_MAX = 31

# The sales tax codes every US company file starts with (taxable, non-taxable); a company may rename them.
TAXABLE_CODE = "Tax"
NON_TAXABLE_CODE = "Non"

# How many qbXML requests one sendRequestXML message carries (onError="continueOnError": one refusal fails
# only its own request). Small enough for QuickBooks to answer well inside QBWC's timeout.
REQUESTS_PER_MESSAGE = 20
# A ticket is good for one Web Connector run; a run that goes quiet this long is over.
SESSION_TTL_SECONDS = 60 * 60
# Biggest SOAP body we read (a ReceivePaymentQuery answer for a busy month stays far below it).
MAX_SOAP_BYTES = 20 * 1024 * 1024
