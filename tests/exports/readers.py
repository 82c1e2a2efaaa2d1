"""Readers for the exported files, written from the formats (not from our renderers): the csv module for CSV,
and a small IIF reader (header rows start with "!", fields are tab-separated, TRNS/SPL…/ENDTRNS groups)."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark expected"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@dataclass
class IifTransaction:
    trns: dict[str, str]
    spl: list[dict[str, str]] = field(default_factory=list)


@dataclass
class IifFile:
    lists: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    transactions: list[IifTransaction] = field(default_factory=list)


def read_iif(data: bytes, encoding: str = "cp1252") -> IifFile:
    text = data.decode(encoding)
    assert "\n" not in text.replace("\r\n", ""), "lines end with CRLF and no field holds a line break"
    headers: dict[str, list[str]] = {}
    result = IifFile()
    current: IifTransaction | None = None
    for raw in text.split("\r\n"):
        if not raw:
            continue
        cells = raw.split("\t")
        if cells[0].startswith("!"):
            headers[cells[0][1:]] = cells[1:]
            continue
        keyword = cells[0]
        assert keyword in headers, f"{keyword} row before its !{keyword} header"
        columns = headers[keyword]
        assert len(cells) - 1 <= len(columns), f"{keyword} row has more fields than its header: {raw!r}"
        record = dict(zip(columns, cells[1:] + [""] * (len(columns) - len(cells) + 1), strict=False))
        if keyword == "TRNS":
            assert current is None, "TRNS inside an open transaction"
            current = IifTransaction(trns=record)
        elif keyword == "SPL":
            assert current is not None, "SPL outside a transaction"
            current.spl.append(record)
        elif keyword == "ENDTRNS":
            assert current is not None, "ENDTRNS without TRNS"
            result.transactions.append(current)
            current = None
        else:
            result.lists.setdefault(keyword, []).append(record)
    assert current is None, "transaction not closed by ENDTRNS"
    return result


def amount(text: str) -> Decimal:
    return Decimal(text or "0")
