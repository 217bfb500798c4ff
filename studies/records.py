"""The records of the table journal (``PATH.tables``): data, never statements.

A committed transaction on the project's tables is one line: a JSON object ``{"tx": [...]}``
whose records each name a table and columns of ``studies.schema`` and hold values only:

- ``{"put": TABLE, "rows": [{COLUMN: VALUE, ...}, ...]}``: insert rows, replacing a row with
  the same primary key;
- ``{"update": TABLE, "where": {COLUMN: VALUE}, "set": {COLUMN: VALUE}}``;
- ``{"delete": TABLE, "where": {COLUMN: VALUE}}``: the rows whose columns equal those values.

A record is checked before it is applied: the table must be one of the project's, every column
one of its columns, every value of the column's type; it is applied with SQLAlchemy's
statements and bound parameters. A line that fails the check is skipped whole, so a line
appended by someone else can at most write rows of the project's tables of this study, never
run SQL, open another file or touch another database. Every record applies to any state of the
tables (a put replaces, an update or delete of nothing does nothing), so every process that
replays the lines in file order reaches the same tables.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, and_, delete, insert, update
from sqlalchemy.sql import operators
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from studies.schema import Base


class DamagedRecord(ValueError):
    """A line of the table journal that is not a transaction of the project's tables."""


def encode(transaction: list[dict[str, Any]]) -> bytes:
    return json.dumps({"tx": transaction}, separators=(",", ":"), default=_plain).encode() + b"\n"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # a NumPy number
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a value of the project's tables")


def record_of(clause, multiparams: list[dict], params: dict) -> dict[str, Any]:
    """The record of one write statement that ``studies.results`` or ``studies.diagnostics``
    executes (an ORM flush, a merge, a delete by key); anything else is refused."""
    table = clause.table.name
    if isinstance(clause, Insert):
        rows = [dict(row) for row in multiparams] or [dict(params)]
        return {"put": table, "rows": rows}
    where = _equalities(clause.whereclause, params)
    if isinstance(clause, Delete):
        return {"delete": table, "where": where}
    if isinstance(clause, Update):
        names = {c.key for c in clause.table.columns}
        values = {k: v for k, v in params.items() if k in names and k not in where}
        return {"update": table, "where": where, "set": values}
    raise DamagedRecord(f"{type(clause).__name__} is not a write the table journal records")


def _equalities(where, params: dict) -> dict[str, Any]:
    """``column = value`` terms joined by AND, as ``{column: value}``."""
    terms = where.clauses if isinstance(where, BooleanClauseList) else [where]
    found = {}
    for term in terms:
        if not (
            isinstance(term, BinaryExpression)
            and term.operator is operators.eq
            and isinstance(term.right, BindParameter)
            and hasattr(term.left, "key")
        ):
            raise DamagedRecord(f"a condition the table journal cannot record: {term}")
        bind = term.right
        found[term.left.key] = params.get(bind.key, bind.value)
    if not found:
        raise DamagedRecord("a write of every row of a table is not recorded")
    return found


def statements(line: bytes) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The checked statements and bound parameters of one line; DamagedRecord if any record
    is not a write of the project's tables."""
    try:
        records = json.loads(line)["tx"]
    except (ValueError, KeyError, TypeError):
        raise DamagedRecord("not a transaction record") from None
    if not isinstance(records, list):
        raise DamagedRecord("not a transaction record")
    return [_statement(record) for record in records]


def _statement(record: Any) -> tuple[Any, list[dict[str, Any]]]:
    if not isinstance(record, dict) or len(record) < 2:
        raise DamagedRecord("not a record")
    kind = next(iter(record))
    table = _table(record.get(kind))
    if kind == "put" and set(record) == {"put", "rows"}:
        rows = record["rows"]
        if not isinstance(rows, list) or not rows:
            raise DamagedRecord("a put of no rows")
        return insert(table).prefix_with("OR REPLACE"), [_values(table, row) for row in rows]
    if kind == "delete" and set(record) == {"delete", "where"}:
        return delete(table).where(_where(table, record["where"])), [{}]
    if kind == "update" and set(record) == {"update", "where", "set"}:
        values = _values(table, record["set"])
        return update(table).where(_where(table, record["where"])).values(**values), [{}]
    raise DamagedRecord(f"an unknown record: {kind!r}")


def _table(name: Any):
    table = Base.metadata.tables.get(name) if isinstance(name, str) else None
    if table is None:
        raise DamagedRecord(f"{name!r} is not a table of the project's")
    return table


def _where(table, terms: Any):
    values = _values(table, terms)
    if not values:
        raise DamagedRecord("a write of every row of a table")
    return and_(*(table.c[name] == value for name, value in values.items()))


def _values(table, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise DamagedRecord("a row that is not an object")
    return {name: _value(table, name, value) for name, value in row.items()}


def _value(table, name: Any, value: Any) -> Any:
    """The value for ``table.name`` in its column's Python type, or DamagedRecord."""
    column = table.c.get(name) if isinstance(name, str) else None
    if column is None:
        raise DamagedRecord(f"{name!r} is not a column of {table.name}")
    if value is None or isinstance(column.type, JSON):
        return value
    kind = column.type
    if isinstance(kind, DateTime) and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(kind, Integer) and type(value) is int:
        return value
    elif isinstance(kind, Float) and type(value) in (int, float):
        return float(value)
    elif isinstance(kind, String) and isinstance(value, str):
        return value
    raise DamagedRecord(f"{table.name}.{name}: {value!r} is not a {kind}")
