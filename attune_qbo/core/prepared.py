"""Read queries the ORM compiles once per process, then runs again with new values.

Why: a push runs the same few SELECTs thousands of times an hour, and building their SQL (joins, column lists,
converters) cost more CPU than the database spent answering them (`bench/push.py`, issue 11: CPU per push ≤ 5 ms).
Only the values in the WHERE clause change between runs, so the ORM writes the SQL the first time a database alias
runs it, and later runs send that SQL with the new values. What comes back is what the ORM itself would give:
model instances made by `Model.from_db` with their `select_related` objects, or dicts for `.values()` queries.

    invoice_with_client = PreparedQuery(
        lambda invoice_id, company_id: Invoice.objects.select_related("client").filter(
            pk=invoice_id, company_id=company_id
        ),
        invoice_id=int,
        company_id=int,
    )
    invoice = invoice_with_client.first(invoice_id=7, company_id=3)

Parameters are `int` or `str` (compared as they are, so no field preparation is skipped); a query whose SQL shape
depends on its values (an `__in` list, an optional filter) cannot be prepared: write one prepared query per shape.
`prefetch_related`, `only`/`defer` and annotations that are not plain columns are refused when the query is prepared.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models.query import ModelIterable, QuerySet, ValuesIterable, get_related_populators

_SENTINELS = itertools.count(1)


def _sentinel(kind: type, serial: int):
    """A value no real query uses, so its place among the compiled parameters is unambiguous."""
    if kind is int:
        return -(7_300_000_000_000_000 + serial)
    if kind is str:
        return f"\x1fprepared-parameter-{serial}\x1f"
    raise TypeError(f"Prepared query parameters are int or str, not {kind.__name__}.")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str, type], ...]  # (position in params, parameter name, its type)
    converters: tuple[tuple[int, tuple, Any], ...]  # (column, converter functions, expression)
    materialize: Callable[[str, list], list]


class PreparedQuery:
    """A SELECT built by `build(**parameters)` once per database alias; `all()`/`first()` run it with new values."""

    def __init__(self, build: Callable[..., QuerySet], **parameters: type):
        self._build = build
        self._parameters = parameters
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def all(self, *, using: str = "default", **values) -> list:
        compiled = self._compiled.get(using) or self._compile(using)
        if values.keys() != self._parameters.keys():
            raise TypeError(f"Expected parameters {sorted(self._parameters)}, got {sorted(values)}.")
        params = list(compiled.params)
        for position, name, kind in compiled.slots:
            value = values[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"Parameter {name} must be {kind.__name__}, got {type(value).__name__}.")
            params[position] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = [_convert(row, compiled.converters, connection) for row in rows]
        return compiled.materialize(using, rows)

    def first(self, *, using: str = "default", **values):
        rows = self.all(using=using, **values)
        return rows[0] if rows else None

    def _compile(self, using: str) -> _Compiled:
        with self._lock:
            if using in self._compiled:
                return self._compiled[using]
            sentinels = {name: _sentinel(kind, next(_SENTINELS)) for name, kind in self._parameters.items()}
            queryset = self._build(**sentinels)
            _refuse_unsupported(queryset)
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            by_value = {value: name for name, value in sentinels.items()}
            slots = tuple(
                (position, by_value[value], self._parameters[by_value[value]])
                for position, value in enumerate(params)
                if isinstance(value, int | str) and value in by_value
            )
            missing = set(sentinels) - {name for _, name, _ in slots}
            if missing:
                raise ValueError(f"Parameters {sorted(missing)} do not reach the SQL as given; cannot prepare.")
            fields = [column[0] for column in compiler.select[: compiler.col_count]]
            converters = tuple(
                (position, tuple(functions), expression)
                for position, (functions, expression) in compiler.get_converters(fields).items()
            )
            compiled = _Compiled(sql, tuple(params), slots, converters, _materializer(queryset, compiler))
            self._compiled[using] = compiled
            return compiled


def _refuse_unsupported(queryset: QuerySet) -> None:
    if queryset._prefetch_related_lookups:
        raise ValueError("A prepared query cannot prefetch_related: prefetch runs queries of its own.")
    if queryset._iterable_class not in (ModelIterable, ValuesIterable):
        raise ValueError("A prepared query returns model instances or .values() dicts.")
    if queryset._known_related_objects:
        raise ValueError("A prepared query cannot be built from a related manager.")
    if queryset.query.deferred_loading[0] and queryset._iterable_class is ModelIterable:
        raise ValueError("A prepared query loads whole models (no only()/defer()).")


def _convert(row, converters, connection) -> list:
    row = list(row)
    for position, functions, expression in converters:
        value = row[position]
        for function in functions:
            value = function(value, expression, connection)
        row[position] = value
    return row


def _materializer(queryset: QuerySet, compiler) -> Callable[[str, list], list]:
    """How rows become what the ORM would return (mirrors Django's ModelIterable and ValuesIterable)."""
    query = queryset.query
    if queryset._iterable_class is ValuesIterable:
        names = [*query.extra_select, *query.values_select, *query.annotation_select]

        def as_dicts(_using: str, rows: list) -> list:
            return [dict(zip(names, row, strict=True)) for row in rows]

        return as_dicts

    select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    populators: dict[str, list] = {}

    def as_models(using: str, rows: list) -> list:
        related = populators.get(using)
        if related is None:
            related = populators[using] = get_related_populators(klass_info, select, using)
        objects = []
        for row in rows:
            obj = model.from_db(using, init_list, row[start:end])
            for populator in related:
                populator.populate(row, obj)
            for name, position in (annotations or {}).items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    return as_models
