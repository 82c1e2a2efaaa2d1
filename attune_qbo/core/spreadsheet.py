"""CSV cells a spreadsheet will not run: the one guard against CSV/formula injection (OWASP "CSV Injection").

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (also behind leading spaces, tabs or line breaks), or with a
tab, carriage return or line feed, is prefixed with ``'`` so Excel, LibreOffice and Google Sheets show it as
text. A plain number (``-12.50`` included) stays a number: refunds and credits must remain amounts.
"""

from __future__ import annotations

import re

PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r", "\n")
RISKY_FIRST = frozenset("=+-@ \t\r\n")


def spreadsheet_cell(value) -> str:
    """``value`` as CSV cell text that no spreadsheet evaluates as a formula."""
    text = "" if value is None else str(value)
    if not text or text[0] not in RISKY_FIRST:  # the common case, decided by the first character
        return text
    if PLAIN_NUMBER.fullmatch(text):
        return text
    if text.lstrip(" \t\r\n")[:1] in FORMULA_STARTS or text[:1] in CONTROL_STARTS:
        return "'" + text
    return text
