"""Reads of a fixed shape whose SQL is made once per database connection and then run with each request's values.

Django builds and compiles every query anew: for a read of one row by key, making the queryset (its filters, joins)
and its SQL (the compiler's columns) costs more CPU than PostgreSQL spends answering (bench/run-profile: the server
token's check took 0.65 ms to make and 0.15 ms to run). The few reads that every request makes go through a
``PreparedQuery`` instead. Its builder returns the queryset, so the rule (which rows, which columns, which related
rows) stays written once, in the ORM::

    by_username = PreparedQuery(lambda username: User.objects.filter(username=username), username=username_field)
    user = by_username.first(username="alice")

The first call on a connection builds the queryset twice with two sets of stand-in values and compiles both. The
SQL text must come out the same, and the parameters may differ only where a declared value went in, unchanged but
for the field's own conversion to the database (``get_db_prep_value``); anything else, such as a value the builder
computed itself (``timezone.now()``) or a lookup that rewrites its value (``icontains``), refuses to prepare, so a
prepared query can never run with a value frozen at its first call (the stand-ins differ in every part a builder
could derive something from). Every declared value must reach the SQL, unless it is declared ``optional`` (a
person's e-mail when the rule lets some callers see every row): then the two compilations show that it changes
nothing for this kind of caller.

Every later call puts the field-converted values into those places (a value that cannot be converted, None, or an
integer beyond its column's range is a ``PreparedValueError``), runs the SQL and makes model instances as Django's
``ModelIterable`` does (``from_db``, the ``select_related`` rows, annotations), or, for a builder that ends with
``values(...)``, dicts as ``ValuesIterable`` does. ``page(offset, limit, ...)`` reads a slice of the rows: the builder
returns the whole ordered queryset and the slice is the LIMIT and OFFSET Django would write for it. Querysets that
need more (``prefetch_related``, ``values_list()``, a related manager's known objects, row locks, ``extra()``, a slice
of their own) are refused: run those through the ORM, or ``prefetch_children`` for one instance's reverse foreign
keys.

This relies on the compiler's attributes that Django's own iterables read (``select``, ``klass_info``,
``col_count``) and on ``django.db.models.query.get_related_populators``; jobbergate/tests/test_prepared.py compares
prepared queries with the ORM's answers for the same values on both databases, and fails first if they change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

# Django's model field types by the kind of column they hold (the prepared stand-ins here, and which columns
# PostgreSQL writes as JSON the way the API shows them: jobbergate.api.serializers).
TEXT_COLUMNS = frozenset({"CharField", "TextField", "EmailField", "SlugField", "URLField"})
SMALL_INTEGER_COLUMNS = frozenset({"SmallAutoField", "SmallIntegerField", "PositiveSmallIntegerField"})
INTEGER_COLUMNS = SMALL_INTEGER_COLUMNS | {
    "AutoField",
    "BigAutoField",
    "IntegerField",
    "BigIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
}

_STAND_IN_INTEGER_COLUMNS = INTEGER_COLUMNS - SMALL_INTEGER_COLUMNS  # the stand-ins are past a small column's range


def _stand_in(field: models.Field, which: int, order: int) -> Any:
    """A value of ``field``'s type that no real row is expected to hold: ``which`` (0 or 1) gives two that differ in
    every part a builder could derive something from (first and last characters, length, digits, date and time of
    day), so that a derived value cannot pass for a constant; ``order`` (the value's place among the query's) gives
    values no other value of the query has. Integers stay within a 32-bit column's range (no small integers)."""
    if isinstance(field, models.ForeignKey):
        return _stand_in(field.target_field, which, order)
    kind = field.get_internal_type()
    if kind in TEXT_COLUMNS:
        return f"prepared stand-in {order}" if which == 0 else f"Another value standing in, number {order}!"
    if kind in _STAND_IN_INTEGER_COLUMNS:
        return (1_000_003 if which == 0 else 29_999_989) + 7 * order
    if kind == "DateTimeField":
        first = (
            datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
            if which == 0
            else datetime(2013, 11, 29, 21, 47, 58, 123457, tzinfo=UTC)
        )
        return first + timedelta(days=order)
    raise ImproperlyConfigured(f"A prepared query cannot take a value for a {kind} ({field}): give it to the ORM")


class PreparedValueError(ValueError):
    """A value a prepared query cannot run with (None, not of its field's type, beyond its column's range): the ORM
    would ask another query or none, so the row it names does not exist."""


def _in_range(field: models.Field, value: int, connection) -> bool:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return (low is None or value >= low) and (high is None or value <= high)


@dataclass
class _Compiled:
    """One prepared query on one connection: its SQL, where each parameter comes from, how rows become instances."""

    sql: str | None  # None: the query can match nothing (the builder returned .none())
    slots: list[tuple[str | None, Any]]  # per SQL parameter: (name of a value, None) or (None, constant)
    compiler: Any
    converters: dict
    model: type[models.Model]
    fields_start: int
    fields_end: int
    init_list: list[str]
    populators: list
    annotations: dict[str, int]
    trim: int | None  # keep only the first columns (the rest are extra columns for ordering)
    names: list[str] | None = None  # a values() query: the dict keys of its columns, in order


class PreparedQuery:
    """A queryset of fixed shape, built by ``build(**values)``, whose SQL is made once per connection (see the module
    docstring). ``fields`` names each value's model field, which converts it for the database as the ORM would."""

    def __init__(
        self,
        build: Callable[..., models.QuerySet],
        *,
        optional: frozenset[str] = frozenset(),
        **fields: models.Field,
    ) -> None:
        if not fields:
            raise ImproperlyConfigured("A prepared query takes at least one value; a constant query needs no preparing")
        self.build = build
        self.fields = fields
        self.optional = frozenset(
            optional
        )  # values that may not reach the SQL (the rule ignores them for some callers)
        self._local = threading.local()

    def all(self, **values: Any) -> list:
        """The rows the builder's queryset gives for these values, as model instances (dicts for a values() one)."""
        return self._run(values)

    def page(self, offset: int, limit: int, **values: Any) -> list:
        """``all(**values)[offset : offset + limit]``, read as such: the slice is in the SQL."""
        if not (isinstance(offset, int) and isinstance(limit, int) and offset >= 0 and limit > 0):
            raise TypeError(f"A page is a whole offset and a positive limit, not {offset!r} and {limit!r}")
        return self._run(values, (offset, limit))

    def _run(self, values: dict[str, Any], page: tuple[int, int] | None = None) -> list:
        if values.keys() != self.fields.keys():
            raise TypeError(f"A prepared query takes exactly {sorted(self.fields)}, not {sorted(values)}")
        compiled, connection = self._compiled()
        if compiled.sql is None:
            return []
        prepared = self._converted(values, connection)
        params = [prepared[name] if name is not None else constant for name, constant in compiled.slots]
        sql = compiled.sql
        if page is not None:
            offset, limit = page
            sql += " " + connection.ops.limit_offset_sql(offset, offset + limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if compiled.trim is not None:
            rows = [row[: compiled.trim] for row in rows]
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        if compiled.names is not None:
            names = compiled.names
            return [dict(zip(names, row, strict=True)) for row in rows]
        made = []
        for row in rows:
            instance = compiled.model.from_db(
                connection.alias, compiled.init_list, row[compiled.fields_start : compiled.fields_end]
            )
            for populator in compiled.populators:
                populator.populate(row, instance)
            for name, position in compiled.annotations.items():
                setattr(instance, name, row[position])
            made.append(instance)
        return made

    def _converted(self, values: dict[str, Any], connection) -> dict[str, Any]:
        """Each value as its field gives it to the database, or PreparedValueError."""
        prepared = {}
        for name, value in values.items():
            if value is None:  # the ORM would change the SQL's shape (IS NULL): not this query
                raise PreparedValueError(f"A prepared query's value {name!r} cannot be None")
            field = self.fields[name]
            try:
                prepared[name] = field.get_db_prep_value(value, connection, prepared=False)
            except (TypeError, ValueError) as error:
                raise PreparedValueError(str(error)) from None
            if isinstance(prepared[name], int) and not _in_range(field, prepared[name], connection):
                # The ORM answers an exact lookup beyond the column's range with no rows; the database would refuse.
                raise PreparedValueError(f"{name} {value} is out of range")
        return prepared

    def first(self, **values: Any) -> models.Model | None:
        """The first row (the builder decides the order and, for speed, the limit), or None."""
        found = self.all(**values)
        return found[0] if found else None

    def _compiled(self) -> tuple[_Compiled, Any]:
        """This thread's compiled query, made on first use; remade if the thread's connection object changed."""
        kept = getattr(self._local, "kept", None)
        if kept is not None:
            compiled, connection = kept
            if connections[connection.alias] is connection:
                return compiled, connection
        compiled, connection = self._compile()
        self._local.kept = (compiled, connection)
        return compiled, connection

    def _compile(self) -> tuple[_Compiled, Any]:
        stand_ins = [
            {name: _stand_in(field, which, order) for order, (name, field) in enumerate(self.fields.items())}
            for which in (0, 1)
        ]
        querysets = [self.build(**values) for values in stand_ins]
        for queryset in querysets:
            self._check_plain(queryset)
        connection = connections[querysets[0].db]
        compilers = [queryset.query.get_compiler(connection=connection) for queryset in querysets]
        try:
            (sql, params), (other_sql, other_params) = (compiler.as_sql() for compiler in compilers)
        except EmptyResultSet:
            return self._empty(querysets[0].model), connection
        if sql != other_sql or len(params) != len(other_params):
            raise ImproperlyConfigured(f"A value changes the SQL of this query, so it cannot be prepared: {sql}")
        converted = [
            {name: self.fields[name].get_db_prep_value(value, connection, prepared=False) for name, value in s.items()}
            for s in stand_ins
        ]
        slots: list[tuple[str | None, Any]] = []
        for first, second in zip(params, other_params, strict=True):
            if first == second:
                slots.append((None, first))
                continue
            names = [name for name in self.fields if converted[0][name] == first and converted[1][name] == second]
            if len(names) != 1:
                raise ImproperlyConfigured(
                    f"A parameter of this query ({first!r}) is neither a constant nor a declared value as given: {sql}"
                )
            slots.append((names[0], None))
        unused = set(self.fields) - self.optional - {name for name, _ in slots if name is not None}
        if unused:
            raise ImproperlyConfigured(f"Declared values {sorted(unused)} never reach the SQL (optional?): {sql}")
        compiler = compilers[0]
        select, klass_info = compiler.select, compiler.klass_info
        columns = [column for column, _, _ in select[: compiler.col_count]]
        compiled = _Compiled(
            sql=sql,
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters(columns),
            model=querysets[0].model,
            fields_start=0,
            fields_end=0,
            init_list=[],
            populators=[],
            annotations={},
            trim=compiler.col_count if compiler.has_extra_select else None,
        )
        query = querysets[0].query
        if querysets[0]._iterable_class is ValuesIterable:  # dicts, keyed as ValuesIterable keys them
            compiled.names = (
                list(query.selected) if query.selected else [*query.values_select, *query.annotation_select]
            )
        else:  # model instances, made as ModelIterable makes them
            compiled.model = klass_info["model"]
            compiled.fields_start, compiled.fields_end = (
                klass_info["select_fields"][0],
                klass_info["select_fields"][-1] + 1,
            )
            compiled.init_list = [
                column.target.attname for column, _, _ in select[compiled.fields_start : compiled.fields_end]
            ]
            compiled.populators = get_related_populators(klass_info, select, connection.alias)
            compiled.annotations = dict(compiler.annotation_col_map)
        return compiled, connection

    @staticmethod
    def _check_plain(queryset: models.QuerySet) -> None:
        if not isinstance(queryset, models.QuerySet) or queryset._iterable_class not in (ModelIterable, ValuesIterable):
            raise ImproperlyConfigured("A prepared query's builder must return a queryset of model instances or dicts")
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise ImproperlyConfigured("A prepared query cannot prefetch or come from a related manager")
        query = queryset.query
        if query.is_sliced:  # the slice is page()'s, written after the SQL
            raise ImproperlyConfigured("A prepared query's builder returns all its rows: read a slice with page()")
        if query.select_for_update or query.combinator or query.extra or query.extra_tables:
            # Django checks select_for_update against the transaction while compiling: a prepared one would not.
            raise ImproperlyConfigured("A prepared query cannot lock rows, combine queries or use extra()")

    @staticmethod
    def _empty(model) -> _Compiled:
        return _Compiled(None, [], None, {}, model, 0, 0, [], [], {}, None)


def prefetch_children(instance: models.Model, *names: str) -> None:
    """``prefetch_related_objects([instance], *names)`` for one instance's reverse foreign keys (a job script's
    ``files``), each read with a prepared query: ``getattr(instance, name).all()`` then answers without a query, in
    the related model's default order, each child's foreign key already pointing at ``instance``."""
    for name in names:
        query, foreign_key = _children_query(type(instance), name)
        _hold(instance, name, foreign_key, query.all(parent=instance.pk))


def hold_new_children(instance: models.Model, name: str, children: list[models.Model]) -> None:
    """Leave the reverse foreign key ``name`` of ``instance`` as ``prefetch_children`` does, holding ``children``:
    for a row this request has just inserted with these children, which are then all it has, without reading them
    back. Only a single row is held as it is; several are read back, since their default order is the database's
    (its collation orders file names) and a second copy of it here could disagree."""
    if len(children) > 1:
        query, _foreign_key = _children_query(type(instance), name)
        children = query.all(parent=instance.pk)
    elif any(child.pk is None for child in children):
        raise ValueError(f"{children!r} are not saved children of {instance!r}")
    hold_children(instance, name, children)


def hold_children(instance: models.Model, name: str, children: list[models.Model]) -> None:
    """Leave the reverse foreign key ``name`` of ``instance`` as ``prefetch_children`` does, holding ``children``:
    all the rows that point at it, read by the caller in the related model's default order (``visible_row`` reads
    them joined to their parent)."""
    _query, foreign_key = _children_query(type(instance), name)
    if any(foreign_key.value_from_object(child) != instance.pk for child in children):
        raise ValueError(f"{children!r} are not children of {instance!r}")
    _hold(instance, name, foreign_key, children)


def _hold(instance: models.Model, name: str, foreign_key: models.ForeignKey, children: list[models.Model]) -> None:
    for child in children:
        foreign_key.set_cached_value(child, instance)
    queryset = getattr(instance, name).get_queryset()
    queryset._result_cache = children  # as Django's prefetch_one_level leaves a prefetched relation
    queryset._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[foreign_key.remote_field.cache_name] = queryset


@cache
def _children_query(model: type[models.Model], name: str) -> tuple[PreparedQuery, models.ForeignKey]:
    relation = model._meta.get_field(name)
    if not relation.one_to_many or relation.concrete:
        raise ImproperlyConfigured(f"{model.__name__}.{name} is not a reverse foreign key: prefetch it with the ORM")
    foreign_key = relation.field
    children = relation.related_model._default_manager
    return PreparedQuery(lambda parent: children.filter(**{foreign_key.name: parent}), parent=foreign_key), foreign_key


class PreparedInsert:
    """A model mixin: each single-row INSERT of the model (``save()`` of a new row, ``objects.create``) runs SQL made
    once per connection, fields and returned columns, instead of building and compiling an ``InsertQuery`` per row
    (bench/run-profile: compiling was nearly half of an INSERT's CPU, and a submission's create makes two; kept SQL
    takes a third off each).

    The SQL comes from Django's own compiler, for the first row; each later row's values go through the same
    compiler's ``pre_save_val`` and ``prepare_value`` (auto timestamps, JSON, foreign keys: Django's rules, not a
    copy of them), and the returned columns through its converters. The SQL is kept only when it cannot depend on the
    values: one plain placeholder per field (no field with a placeholder of its own). A row with an expression for a
    value, a raw save, or a database that cannot return columns from an INSERT goes through Django unchanged.
    ``insert_together`` saves such a row with rows that point at it in one statement.
    jobbergate/tests/test_prepared.py compares the rows with Django's on both databases."""

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        chain = self.__dict__.get("_insert_along")
        if chain is not None:
            return _insert_chained(self, chain, using, fields, returning_fields)
        done = _insert_prepared(self, using, fields, returning_fields, raw)
        if done is None:
            return super()._do_insert(manager, using, fields, returning_fields, raw)  # type: ignore[misc]
        return done


@dataclass
class _Insert:
    """One model's INSERT of some fields on one connection: its SQL, the compiler that prepares each row's values
    and converts the returned columns."""

    sql: str
    compiler: Any
    returning_params: tuple
    converters: dict

    def values(self, instance, fields) -> tuple:
        return tuple(
            self.compiler.prepare_value(field, self.compiler.pre_save_val(field, instance)) for field in fields
        )

    def converted(self, row) -> list:
        rows = [row]
        if self.converters:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        return rows[0]


_inserts = threading.local()


def _kept(connection) -> dict:
    """This thread's INSERT statements made on ``connection`` (a new connection object starts afresh)."""
    kept = getattr(_inserts, "kept", None)
    if kept is None or kept[0] is not connection:
        kept = _inserts.kept = (connection, {})
    return kept[1]


def _kept_insert(model, connection, fields, returning_fields, instance) -> _Insert | None:
    key = (model, tuple(fields), tuple(returning_fields or ()))
    kept = _kept(connection)
    if key not in kept:
        kept[key] = _compile_insert(instance, connection, fields, returning_fields)  # None: Django's, each time
    return kept[key]


def _insert_prepared(instance, using, fields, returning_fields, raw) -> list | None:
    """The returned rows of ``instance``'s INSERT run with kept SQL, or None when Django must run it."""
    connection = connections[using]
    if raw or not fields or not connection.features.can_return_columns_from_insert:
        return None
    if _has_expression(instance, fields):
        return None  # an expression is written into the SQL: not this SQL
    insert = _kept_insert(type(instance), connection, fields, returning_fields, instance)
    if insert is None:
        return None
    values = insert.values(instance, fields)
    if any(hasattr(value, "as_sql") for value in values):
        return None  # a value written as SQL of its own (none of ours): Django's compiler places it
    with connection.cursor() as cursor:
        cursor.execute(insert.sql, values + insert.returning_params)
        if not returning_fields:
            return []
        rows = [connection.ops.fetch_returned_insert_columns(cursor, insert.returning_params)]
    return [insert.converted(rows[0])]


def _has_expression(instance, fields) -> bool:
    return any(hasattr(getattr(instance, field.attname), "resolve_expression") for field in fields)


def _compile_insert(instance, connection, fields, returning_fields) -> _Insert | None:
    """Django's SQL for inserting one row of these fields, if it has one plain placeholder per field."""
    from django.db.models.sql.subqueries import InsertQuery

    if any(hasattr(field, "get_placeholder") for field in fields):
        return None
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = returning_fields
    statements = compiler.as_sql()
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    returning_params = tuple(getattr(compiler, "returning_params", ()) or ())
    if (
        sql.count("%s") != len(params)
        or _placeholders(len(fields)) not in sql
        or len(params) != len(fields) + len(returning_params)
    ):
        return None
    query.objs = []  # the compiler is kept: it keeps no row
    columns = [field.get_col(type(instance)._meta.db_table) for field in returning_fields or ()]
    return _Insert(sql, compiler, returning_params, compiler.get_converters(columns))


def _placeholders(count: int, replaced: dict[int, str] | None = None) -> str:
    slots = ["%s"] * count
    for position, sql in (replaced or {}).items():
        slots[position] = sql
    return "(" + ", ".join(slots) + ")"


# One statement for a row and the rows that point at it ------------------------------------------------------


def insert_together(parent: models.Model, *children: models.Model) -> None:
    """Insert the new row ``parent`` and the new rows ``children``, each of which points at it by a foreign key
    (``JobProgress(submission=submission)``): all of them or none.

    On PostgreSQL this is one statement, the children's INSERTs taking the parent's id from its INSERT in a
    data-modifying WITH; outside a transaction it is its own: one round trip instead of four (BEGIN, two INSERTs,
    COMMIT) for a submission and its first progress entry, each of which also costs PostgreSQL a statement's
    work. The parent is saved by ``save()`` (its signals run); each child gets its id and foreign key as ``save()``
    would set them. Elsewhere (SQLite), or when a row cannot be written that way (an expression for a value, a
    child model with save signal receivers, which would not run, an inherited model), each is saved by ``save()``
    in turn, in one transaction."""
    using = router.db_for_write(type(parent), instance=parent)
    links = [_link(child, parent) for child in children]
    chain = _chain(connections[using], parent, children, links)
    if chain is None:
        with transaction.atomic(using=using, savepoint=False):
            parent.save(force_insert=True, using=using)
            for child in children:
                child.save(force_insert=True, using=using)
        return
    parent._insert_along = (chain, children)  # type: ignore[attr-defined]  # read by PreparedInsert._do_insert
    try:
        parent.save(force_insert=True, using=using)
    finally:
        del parent._insert_along  # type: ignore[attr-defined]


def _link(child: models.Model, parent: models.Model) -> models.ForeignKey:
    """The foreign key of ``child`` that holds ``parent``."""
    for field in child._meta.concrete_fields:
        if field.many_to_one and field.get_cached_value(child, None) is parent:
            return field
    raise ValueError(f"{child!r} does not point at {parent!r}: set its foreign key to the parent row")


@dataclass
class _Chain:
    """The one statement that inserts a row of some fields and rows of other models that point at it."""

    sql: str
    parent: _Insert
    parent_fields: tuple
    parent_returning: tuple
    children: tuple  # (_Insert, fields without the link, returned fields, link) per child


def _new_row_fields(model) -> tuple[tuple, tuple]:
    """The fields ``save()`` writes for a new row whose id the database gives, and the ones it reads back."""
    meta = model._meta
    return tuple(field for field in meta.local_concrete_fields if field is not meta.auto_field), tuple(
        meta.db_returning_fields
    )


def _chain(connection, parent, children, links) -> _Chain | None:
    from django.db.models import signals

    if connection.vendor != "postgresql" or not isinstance(parent, PreparedInsert):
        return None
    rows = [parent, *children]
    if any(row.pk is not None or not row._state.adding or row._meta.parents for row in rows):
        return None
    if any(
        signals.pre_save.has_listeners(type(child)) or signals.post_save.has_listeners(type(child))
        for child in children
    ):
        return None  # save() of a child would tell its receivers: let it
    if any(_has_expression(row, _new_row_fields(type(row))[0]) for row in rows):
        return None
    key = ("chain", type(parent), tuple(type(child) for child in children), tuple(links))
    kept = _kept(connection)
    if key not in kept:
        kept[key] = _compile_chain(connection, parent, children, links)
    return kept[key]


def _compile_chain(connection, parent, children, links) -> _Chain | None:
    quote = connection.ops.quote_name
    parent_fields, parent_returning = _new_row_fields(type(parent))
    parent_insert = _kept_insert(type(parent), connection, parent_fields, parent_returning, parent)
    if parent_insert is None or parent_insert.returning_params or parent._meta.pk not in parent_returning:
        return None
    parent_id = f"(SELECT {quote(parent._meta.pk.column)} FROM {quote('parent')})"
    statements = [f"{quote('parent')} AS ({parent_insert.sql})"]
    made = []
    for number, (child, link) in enumerate(zip(children, links, strict=True)):
        fields, returning = _new_row_fields(type(child))
        insert = _kept_insert(type(child), connection, fields, returning, child)
        if insert is None or insert.returning_params or link not in fields:
            return None
        position = fields.index(link)
        sql = insert.sql.replace(_placeholders(len(fields)), _placeholders(len(fields), {position: parent_id}), 1)
        statements.append(f"{quote(f'child_{number}')} AS ({sql})")
        made.append((insert, tuple(field for field in fields if field is not link), returning, link))
    names = ", ".join(quote(name) for name in ["parent", *(f"child_{number}" for number in range(len(children)))])
    sql = f"WITH {', '.join(statements)} SELECT * FROM {names}"
    return _Chain(sql, parent_insert, parent_fields, parent_returning, tuple(made))


def _insert_chained(parent, along, using, fields, returning_fields) -> list:
    """``parent``'s returned row from the chained statement; its children's ids and links set on them."""
    chain, children = along
    if tuple(fields) != chain.parent_fields or tuple(returning_fields or ()) != chain.parent_returning:
        raise RuntimeError("save() asked for another INSERT than insert_together prepared")
    params = list(chain.parent.values(parent, fields))
    for child, (insert, child_fields, _returning, _link) in zip(children, chain.children, strict=True):
        params += insert.values(child, child_fields)
    if any(hasattr(value, "as_sql") for value in params):
        raise RuntimeError("insert_together cannot write a value that is SQL of its own")
    with connections[using].cursor() as cursor:
        cursor.execute(chain.sql, params)
        row = cursor.fetchone()
    taken = len(chain.parent_returning)
    parent_row = chain.parent.converted(row[:taken])
    parent_id = parent_row[chain.parent_returning.index(parent._meta.pk)]
    for child, (insert, _fields, returning, link) in zip(children, chain.children, strict=True):
        child_row = insert.converted(row[taken : taken + len(returning)])
        taken += len(returning)
        setattr(child, link.attname, parent_id)
        for field, value in zip(returning, child_row, strict=True):
            setattr(child, field.attname, value)
        child._state.adding = False
        child._state.db = using
    return [parent_row]
