"""One row by its key, in one plain SELECT.

Every logged-in request reads its session and its user before anything else. Through
the ORM each of those lookups cost about three times the query itself: the queryset is
built and compiled anew on every request. `fetch` sends the SELECT the ORM would send
(the model's columns, its table, the key), applies the same database converters and
builds the instance with `Model.from_db`, as the ORM does.
"""

import functools

from django.db import connection
from django.db.models import Model


@functools.cache
def _statement(model: type[Model], key: str, vendor: str) -> tuple[str, list[str], list]:
    """The SELECT for one row of `model` by its field `key`, the attribute name of each
    column, and each column with its converters (as the ORM's compiler finds them)."""
    opts = model._meta
    quote = connection.ops.quote_name
    columns = [field.get_col(opts.db_table) for field in opts.concrete_fields]
    select = ", ".join(quote(column.target.column) for column in columns)
    key_column = quote(opts.get_field(key).column)
    sql = f"SELECT {select} FROM {quote(opts.db_table)} WHERE {key_column} = %s"
    converters = [
        (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection))
        for column in columns
    ]
    return sql, [field.attname for field in opts.concrete_fields], converters


def fetch(model: type[Model], key: str, value, condition: str = "", params=()) -> Model | None:
    """The instance of `model` whose `key` is `value` (and that meets `condition`, SQL
    over its columns with `params`), or None."""
    sql, names, converters = _statement(model, key, connection.vendor)
    if condition:
        sql = f"{sql} AND {condition}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value, *params])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for raw, (column, functions) in zip(row, converters, strict=True):
        for convert in functions:
            raw = convert(raw, column, connection)
        values.append(raw)
    return model.from_db(connection.alias, names, values)
