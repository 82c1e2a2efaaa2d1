"""The subset of Intuit's query language the simulator understands (QBO-REFERENCE §2.5).

    select * | count(*) from <Entity>
      [where <field> <op> <value> [and ...]]      ops: = < > <= >= != in (...) like '%x%'
      [orderby <field> [asc|desc] [, ...]] [startposition N] [maxresults N]

No OR, no projections, no joins (as at Intuit). Keywords and entity names are case-insensitive; string
values are single-quoted with \\' escapes. Name-list entities return active objects only unless the
query mentions Active.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from . import faults
from .faults import PACIFIC
from .models import SimCompany, SimEntity
from .store import NAME_LISTS

DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Customer",
        "Item",
        "Account",
        "TaxCode",
        "TaxRate",
        "Invoice",
        "Payment",
        "CompanyInfo",
        "Preferences",
    )
}
SINGLETONS = frozenset({"CompanyInfo", "Preferences"})

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Field:
    """Where a queryable property lives: a column of SimEntity, or a path in the JSON body."""

    kind: str  # "id", "text", "text_ci", "bool", "datetime", "body"
    column: str = ""
    path: tuple[str, ...] = ()


COMMON_FIELDS = {
    "Id": Field("id", "entity_id"),
    "MetaData.LastUpdatedTime": Field("datetime", "updated_at"),
    "MetaData.CreateTime": Field("datetime", "created_at"),
}
FIELDS: dict[str, dict[str, Field]] = {
    "Customer": {
        "DisplayName": Field("text_ci", "name"),
        "Active": Field("bool", "active"),
        "PrimaryEmailAddr": Field("body", path=("PrimaryEmailAddr", "Address")),
        "GivenName": Field("body", path=("GivenName",)),
        "FamilyName": Field("body", path=("FamilyName",)),
        "CompanyName": Field("body", path=("CompanyName",)),
    },
    "Item": {
        "Name": Field("text_ci", "name"),
        "Active": Field("bool", "active"),
        "Type": Field("body", path=("Type",)),
        "Sku": Field("body", path=("Sku",)),
    },
    "Account": {
        "Name": Field("text_ci", "name"),
        "Active": Field("bool", "active"),
        "AccountType": Field("body", path=("AccountType",)),
        "Classification": Field("body", path=("Classification",)),
    },
    "TaxCode": {"Name": Field("text_ci", "name"), "Active": Field("bool", "active")},
    "TaxRate": {"Name": Field("text_ci", "name"), "Active": Field("bool", "active")},
    "Invoice": {
        "DocNumber": Field("text", "doc_number"),
        "CustomerRef": Field("text", "customer_ref"),
        "PrivateNote": Field("body", path=("PrivateNote",)),
        "TxnDate": Field("body", path=("TxnDate",)),
        "DueDate": Field("body", path=("DueDate",)),
        "Balance": Field("body", path=("Balance",)),
        "TotalAmt": Field("body", path=("TotalAmt",)),
    },
    "Payment": {
        "CustomerRef": Field("text", "customer_ref"),
        "PrivateNote": Field("body", path=("PrivateNote",)),
        "TxnDate": Field("body", path=("TxnDate",)),
        "PaymentRefNum": Field("body", path=("PaymentRefNum",)),
        "TotalAmt": Field("body", path=("TotalAmt",)),
    },
}


@dataclass
class Condition:
    field_name: str
    field: Field
    op: str  # = != < > <= >= in like
    values: list


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, Field, bool]] = field(default_factory=list)  # (name, field, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip().rstrip(";")
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            if text[position:].strip() == "":
                break
            raise faults.query_parse_error(
                f"Encountered unexpected text at position {position}: {text[position : position + 20]!r}"
            )
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise faults.query_parse_error("Unexpected end of query")
        self.position += 1
        return token

    def keyword(self, word: str, optional: bool = False) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        if optional:
            return False
        found = token[1] if token else "end of query"
        raise faults.query_parse_error(f'Encountered "{found}", expected "{word.upper()}"')

    def punct(self, char: str) -> None:
        token = self.take()
        if token != ("punct", char):
            raise faults.query_parse_error(f'Encountered "{token[1]}", expected "{char}"')

    def value(self):
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return text
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower()
        raise faults.query_parse_error(f'Encountered "{text}", expected a value')

    def integer(self, name: str) -> int:
        kind, text = self.take()
        if kind != "number" or not text.lstrip("-").isdigit():
            raise faults.query_parse_error(f'{name} needs a whole number, got "{text}"')
        return int(text)


def _field(entity: str, name: str) -> Field:
    fields = {**COMMON_FIELDS, **FIELDS.get(entity, {})}
    for candidate, spec in fields.items():
        if candidate.lower() == name.lower():
            return spec
    raise faults.query_validation_error(f"property '{name}' is not queryable on {entity} in the simulator")


def _canonical(entity: str, name: str) -> str:
    fields = {**COMMON_FIELDS, **FIELDS.get(entity, {})}
    return next((c for c in fields if c.lower() == name.lower()), name)


def parse(text: str) -> Query:
    parser = _Parser(text)
    parser.keyword("select")
    token = parser.take()
    count = False
    if token == ("word", token[1]) and token[1].lower() == "count":
        parser.punct("(")
        parser.punct("*")
        parser.punct(")")
        count = True
    elif token != ("punct", "*"):
        raise faults.query_parse_error(
            f'Encountered "{token[1]}": only SELECT * and SELECT COUNT(*) are supported'
        )
    # `SELECT *, Sku FROM Item` is accepted by Intuit (python-quickbooks sends it; QBO-REFERENCE §2.5); it
    # answers the same as `SELECT *`. No other projection is.
    extra = []
    if not count and parser.peek() == ("punct", ","):
        parser.take()
        extra.append(parser.take())
    parser.keyword("from")
    kind, name = parser.take()
    if kind != "word":
        raise faults.query_parse_error(f'Encountered "{name}", expected an entity name')
    entity = ENTITY_NAMES.get(name.lower())
    if extra and not (entity == "Item" and extra[0][0] == "word" and extra[0][1].lower() == "sku"):
        raise faults.query_parse_error(
            "Encountered " + repr(extra[0][1]) + ": projections are not supported (only *, Sku on Item)"
        )
    if entity is None:
        raise faults.query_validation_error(f"{name} is not a supported entity")
    query = Query(entity=entity, count=count)
    if parser.keyword("where", optional=True):
        while True:
            kind, field_name = parser.take()
            if kind != "word":
                raise faults.query_parse_error(f'Encountered "{field_name}", expected a property name')
            spec = _field(entity, field_name)
            field_name = _canonical(entity, field_name)
            token = parser.take()
            if token[0] == "op":
                op = "!=" if token[1] == "<>" else token[1]
                query.conditions.append(Condition(field_name, spec, op, [parser.value()]))
            elif token[0] == "word" and token[1].lower() == "in":
                parser.punct("(")
                values = [parser.value()]
                while parser.peek() == ("punct", ","):
                    parser.take()
                    values.append(parser.value())
                parser.punct(")")
                query.conditions.append(Condition(field_name, spec, "in", values))
            elif token[0] == "word" and token[1].lower() == "like":
                query.conditions.append(Condition(field_name, spec, "like", [parser.value()]))
            else:
                raise faults.query_parse_error(f'Encountered "{token[1]}", expected an operator')
            if not parser.keyword("and", optional=True):
                break
            if parser.peek() and parser.peek()[0] == "word" and parser.peek()[1].lower() == "or":
                raise faults.query_parse_error("OR is not supported")
    if parser.keyword("orderby", optional=True) or (
        parser.keyword("order", optional=True) and parser.keyword("by") is True
    ):
        while True:
            kind, field_name = parser.take()
            if kind != "word":
                raise faults.query_parse_error(f'Encountered "{field_name}", expected a property name')
            spec = _field(entity, field_name)
            descending = False
            if parser.keyword("desc", optional=True):
                descending = True
            else:
                parser.keyword("asc", optional=True)
            query.order.append((_canonical(entity, field_name), spec, descending))
            if parser.peek() != ("punct", ","):
                break
            parser.take()
    if parser.keyword("startposition", optional=True):
        query.start_position = max(1, parser.integer("STARTPOSITION"))
    if parser.keyword("maxresults", optional=True):
        requested = parser.integer("MAXRESULTS")
        if requested < 1:
            raise faults.query_validation_error("MAXRESULTS must be at least 1")
        query.max_results = min(requested, MAX_MAX_RESULTS)
    if parser.peek() is not None:
        raise faults.query_parse_error(f'Encountered "{parser.peek()[1]}" after the end of the query')
    return query


# --- Execution -----------------------------------------------------------------------------------------


def _as_datetime(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise faults.query_validation_error(f"'{value}' is not a valid date/time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=PACIFIC)  # no offset: Pacific (§2.4)


def _as_bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise faults.query_validation_error(f"'{value}' is not true or false")
    return value.lower() == "true"


def _like_regex(pattern: str) -> re.Pattern:
    return re.compile(
        "^" + ".*".join(re.escape(part) for part in pattern.split("%")) + "$", re.IGNORECASE | re.DOTALL
    )


def _db_filter(condition: Condition) -> Q:
    spec, op, values = condition.field, condition.op, condition.values
    column = spec.column
    if spec.kind == "bool":
        values = [_as_bool(v) for v in values]
    elif spec.kind == "datetime":
        values = [_as_datetime(v) for v in values]
    elif spec.kind == "id" and op in ("<", ">", "<=", ">="):
        if not values[0].isdigit():
            raise faults.query_validation_error("Id comparisons need a number")
        column, values = "number", [int(values[0])]
    if op == "like":
        if spec.kind not in ("text", "text_ci", "id"):
            raise faults.query_validation_error(f"LIKE is not supported on {condition.field_name}")
        pattern = values[0]
        inner = pattern.strip("%")
        if "%" in inner:
            return Q(**{f"{column}__iregex": _like_regex(pattern).pattern})
        if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1:
            return Q(**{f"{column}__icontains": inner})
        if pattern.endswith("%"):
            return Q(**{f"{column}__istartswith": inner})
        if pattern.startswith("%"):
            return Q(**{f"{column}__iendswith": inner})
        return Q(**{f"{column}__iexact": inner})
    insensitive = spec.kind == "text_ci"
    if op == "in":
        if insensitive:
            return Q(**{"name_key__in": [str(v).lower() for v in values]})
        return Q(**{f"{column}__in": values})
    lookups = {"=": "iexact" if insensitive else "exact", "<": "lt", ">": "gt", "<=": "lte", ">=": "gte"}
    if op == "!=":
        return ~Q(**{f"{column}__{'iexact' if insensitive else 'exact'}": values[0]})
    return Q(**{f"{column}__{lookups[op]}": values[0]})


def _body_value(body: dict, path: tuple[str, ...]):
    value = body
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _sortable(value):
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).lower()) if value is not None else (0, "")


def _compare(actual, op: str, values: list) -> bool:
    if actual is None:
        return False if op != "!=" else True
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        try:
            expected = [float(v) for v in values]
        except ValueError:
            return False
        actual = float(actual)
    else:
        actual = str(actual).lower()
        expected = [str(v).lower() for v in values]
    if op == "like":
        return bool(_like_regex(values[0]).match(str(actual)))
    if op == "in":
        return actual in expected
    target = expected[0]
    return {
        "=": actual == target,
        "!=": actual != target,
        "<": actual < target,
        ">": actual > target,
        "<=": actual <= target,
        ">=": actual >= target,
    }[op]


def run(company: SimCompany, query: Query) -> tuple[list[SimEntity], int]:
    """The page of matching entities and the total number of matches."""
    rows = SimEntity.objects.filter(company=company, entity_type=query.entity, deleted=False)
    python_conditions = []
    for condition in query.conditions:
        if condition.field.kind == "body":
            python_conditions.append(condition)
        else:
            rows = rows.filter(_db_filter(condition))
    if query.entity in NAME_LISTS and not any(c.field_name == "Active" for c in query.conditions):
        rows = rows.filter(active=True)
    python_order = any(spec.kind == "body" for _, spec, _ in query.order)
    if query.order and not python_order:
        rows = rows.order_by(
            *[
                ("-" if descending else "") + ("number" if spec.kind == "id" else spec.column)
                for _, spec, descending in query.order
            ],
            "number",
            "entity_id",
        )
    else:
        rows = rows.order_by("number", "entity_id")
    start = query.start_position - 1
    if not python_conditions and not python_order:
        total = rows.count()
        return ([] if query.count else list(rows[start : start + query.max_results])), total
    matches = [
        row
        for row in rows
        if all(_compare(_body_value(row.body, c.field.path), c.op, c.values) for c in python_conditions)
    ]
    for _, spec, descending in reversed(query.order):
        if spec.kind == "body":
            matches.sort(key=lambda row, s=spec: _sortable(_body_value(row.body, s.path)), reverse=descending)
        else:
            matches.sort(key=lambda row, s=spec: _sortable(getattr(row, s.column)), reverse=descending)
    return ([] if query.count else matches[start : start + query.max_results]), len(matches)
