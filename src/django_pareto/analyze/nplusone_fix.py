"""The exact code that removes an N+1, per kind of per-row query."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from django_pareto.analyze.nplusone_relation import Access
from django_pareto.analyze.nplusone_sql import QueryShape
from django_pareto.analyze.schema import SchemaMap

# What the per-row query does, and so which fix removes it.
SELECT_RELATED = "select_related"  # a forward FK / one-to-one read per row
PREFETCH_RELATED = "prefetch_related"  # a reverse FK / many-to-many read per row
COUNT = "count"  # .count() per row
EXISTS = "exists"  # .exists() per row
FILTERED = "filtered_prefetch"  # .filter()/.order_by()/.first() on a relation per row
BYPASSED = "prefetch_bypassed"  # the same, while a prefetch of that relation already ran
LOOP = "loop"  # a lookup per row that no relation explains

# The query that replaces the per-row ones: select_related adds none (a JOIN), a prefetch
# adds one; the savings formula subtracts it.
QUERIES_LEFT = {PREFETCH_RELATED: 2, FILTERED: 2, BYPASSED: 2}


@dataclass(frozen=True)
class Code:
    code: str
    read: str  # what the repeated access line should read instead


def fix_code(kind: str, access: Access, path: str, shape: QueryShape, schema: SchemaMap) -> Code:
    """The code to add to the parent queryset; ``path`` is the relation from its model."""
    name = access.accessor
    row = access.parent.__name__.lower()  # how the loop variable is usually named
    if kind == SELECT_RELATED:
        return Code(f'.select_related("{path}")', f"{row}.{name} as before (no query)")
    if kind == PREFETCH_RELATED:
        return Code(f'.prefetch_related("{path}")', f"{row}.{name}.all() as before (no query)")
    if kind == COUNT:
        # distinct=True keeps the count right when other to-many annotations join too.
        return Code(
            f'.annotate({name}_count=Count("{path}", distinct=True))',
            f"{row}.{name}_count instead of {row}.{name}.count()",
        )
    if kind == EXISTS:
        return Code(
            f".annotate(has_{name}=Exists({_exists_queryset(access, path, shape, schema)}))",
            f"{row}.has_{name} instead of {row}.{name}...exists()",
        )
    attr = f"{name}_{'ordered' if shape.order_by else 'filtered'}"
    queryset = f"{access.target.__name__}.objects{_queryset_calls(access, shape, schema)}"
    first = "[0] (or None when empty)" if shape.limited else ""
    return Code(
        f'.prefetch_related(Prefetch("{path}", queryset={queryset}, to_attr="{attr}"))',
        f"{row}.{attr}{first} instead of the per-row query",
    )


def _exists_queryset(access: Access, path: str, shape: QueryShape, schema: SchemaMap) -> str:
    outer = f'OuterRef("{path.rpartition("__")[0]}")' if "__" in path else 'OuterRef("pk")'
    back = access.back_field or "pk"
    if access.kind == "m2m":
        through = access.column[0]
        source = f"{access.parent.__name__}.{access.accessor}.through"
        other = _through_target_field(schema, through, back)
    else:
        source = f"{access.target.__name__}"
        other = None
    filters = [f"{back}={outer}"]
    for table, column in shape.equals:
        if (table, column) == access.column:
            continue
        field = schema.field(table, column)
        if field is None:
            filters.append("...")
        elif table == shape.table and access.kind == "m2m" and other:
            # A filter on the m2m target (auth_user.id = %s) is a filter on the through FK.
            filters.append(f"{other}=..." if field.primary_key else f"{other}__{field.name}=...")
        else:
            filters.append(f"{field.name}=...")
    if shape.other_conditions:
        filters.append("...")
    return f"{source}.objects.filter({', '.join(filters)})"


def _through_target_field(schema: SchemaMap, through: str, back: str) -> str | None:
    model = schema.model(through)
    if model is None:
        return None
    for field in model._meta.concrete_fields:
        if field.is_relation and field.name != back:
            return field.name
    return None


def _queryset_calls(access: Access, shape: QueryShape, schema: SchemaMap) -> str:
    """``.select_related(...).filter(...).order_by(...)`` as the per-row query has them."""
    calls = []
    related = [
        f.name
        for table in shape.joined
        for f in access.target._meta.concrete_fields
        if f.is_relation
        and isinstance(f.related_model, type)
        and f.related_model._meta.db_table == table
    ]
    if related:
        calls.append(".select_related({})".format(", ".join(f'"{r}"' for r in related)))
    filters = [
        f"{field.name}=..."
        for table, column in shape.equals
        if (table, column) != access.column
        and (field := schema.field(table, column)) is not None
        and table == shape.table
    ]
    if filters or shape.other_conditions:
        calls.append(f".filter({', '.join(filters or ['...'])})")
    order = _order_by(access.target, shape, schema)
    if order:
        calls.append(".order_by({})".format(", ".join(f'"{o}"' for o in order)))
    return "".join(calls)


def _order_by(model: type[models.Model], shape: QueryShape, schema: SchemaMap) -> list[str]:
    order = []
    for (table, column), descending in shape.order_by:
        field = schema.field(table, column)
        if field is None or table != shape.table:
            continue
        order.append(("-" if descending else "") + field.name)
    return order


def default_order(model: type[models.Model]) -> list[str]:
    """``Meta.ordering`` with ``pk`` spelled as the field name (what ORDER BY shows)."""
    pk = model._meta.pk.name if model._meta.pk is not None else "id"
    return [
        o.replace("pk", pk) if o.lstrip("-") == "pk" else o
        for o in model._meta.ordering or ()
        if isinstance(o, str)
    ]


def adds_to_relation(access: Access, shape: QueryShape, schema: SchemaMap) -> bool:
    """Does the per-row query filter, order or slice beyond ``parent.<accessor>.all()``?"""
    if shape.extra_filters(access.column):
        return True
    # .first() orders by pk when nothing else orders: a new query even when prefetched.
    order = _order_by(access.target, shape, schema)
    return bool(order) and order != default_order(access.target)
