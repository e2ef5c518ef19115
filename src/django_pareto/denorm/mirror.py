"""One mirror: a field that holds a copy of a many-to-many relation, and how to keep it.

A mirror is always recomputed from the through table, never patched: whatever happened
to the relation, the parents it touched get the value the database holds now. Writers
that run concurrently lock the parents first (in pk order), so the last of them to get the
lock recomputes after the others have committed and sees all of their rows.

The locks, on PostgreSQL: parents ``FOR NO KEY UPDATE`` (writers of one parent queue up;
readers and foreign keys are not blocked); related rows read for ``fields`` ``FOR KEY
SHARE`` (blocks only a ``FOR UPDATE``, which a rename of a mirrored attribute takes, see
``resync_related``). So adds, removes and clears never deadlock on each other's locks;
a rename or a delete of a related row can, with a change of the same parents (PostgreSQL
then aborts one of the two transactions: a failed write, not drift).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Field, Model, QuerySet

from django_pareto.denorm import relation as relations
from django_pareto.denorm.values import fields_value, ids_value
from django_pareto.denorm.vendor import capabilities

if TYPE_CHECKING:
    from django_pareto.denorm.fields import MirrorFieldMixin

# Parents per statement: keeps every IN-list and CASE under SQLite's 999 parameters.
BATCH = 250


class Mirror:
    """The field ``field`` of ``field.model``, kept equal to its relation."""

    def __init__(self, field: MirrorFieldMixin) -> None:
        self.field = cast("Field[Any, Any]", field)  # a MirrorField or a MirrorArrayField
        self.model: type[Model] = field.model
        self.name: str = field.name
        self.attname: str = field.attname
        self.relation_name: str = field.relation_name
        self.fields: tuple[str, ...] = field.mirror_fields
        self.as_json: bool = field.stores_json

    def __repr__(self) -> str:
        return f"<Mirror {self.label} of {self.relation_name!r}>"

    @property
    def label(self) -> str:
        """``app_label.Model.field``: how commands and messages name the mirror."""
        return f"{self.model._meta.label}.{self.name}"

    @cached_property
    def relation(self) -> relations.Relation:
        """The relation, resolved and checked (ImproperlyConfigured when it is wrong)."""
        found = relations.resolve(self.model, self.relation_name, self.label)
        relations.check_fields(found, self.fields, self.label)
        return found

    def db(self, using: str | None = None) -> str:
        return using or router.db_for_write(self.model)

    # -- reading -------------------------------------------------------------------------

    def compute(self, pks: Iterable[Any], using: str | None = None) -> dict[Any, Any]:
        """The value each parent should hold, from the through table: ``{pk: value}``."""
        to_python = self.model._meta.pk.to_python
        return self._compute([to_python(pk) for pk in pks], self.db(using), key_share=False)

    def drift(self, pks: Iterable[Any] | None = None, using: str | None = None) -> list[Any]:
        """The parents (all of them when ``pks`` is None) whose stored value is wrong."""
        using = self.db(using)
        drifted = []
        for stored in self._stored_batches(pks, using):
            truth = self._compute(list(stored), using, key_share=False)
            drifted += [pk for pk, value in stored.items() if value != truth[pk]]
        return drifted

    def parents_of(self, related_pks: Iterable[Any], using: str) -> set[Any]:
        return self.relation.parents_of(related_pks, using)

    def parents_having(self, related_pk: Any, using: str) -> set[Any]:
        """The parents whose stored copy names ``related_pk`` (the ``has`` lookup)."""
        rows = self.model._base_manager.using(using).filter(**{f"{self.name}__has": related_pk})
        return set(rows.values_list("pk", flat=True))

    # -- writing -------------------------------------------------------------------------

    def sync(self, pks: Iterable[Any], using: str | None = None) -> int:
        """Lock these parents, recompute them and write those that changed, in one
        transaction (the caller's, if any). Returns the number of rows written."""
        using = self.db(using)
        locking = capabilities(connections[using]).row_locks
        written = 0
        with transaction.atomic(using=using, savepoint=False):
            for batch in _chunks(_ordered(pks), BATCH):
                stored = self._read(batch, using, lock=locking)
                truth = self._compute(list(stored), using, key_share=self._key_share(using))
                changed = {pk: v for pk, v in truth.items() if stored[pk] != v}
                self._update(changed, using)
                written += len(changed)
        return written

    def lock(self, pks: Iterable[Any], using: str, *, existing: bool = False) -> bool:
        """Lock these parents until the transaction ends, in pk order (writers that lock
        the same way queue up instead of deadlocking).

        True when a later ``write()`` in this transaction needs no lock: the rows are
        locked, or the database serializes writers (SQLite). False outside a transaction,
        where nothing can be held: use ``sync()`` then.

        ``existing``: raise IntegrityError if a parent is not there (a link is about to be
        added to it). Django's foreign keys are checked at commit: a link to a row deleted
        meanwhile would pass if another transaction re-inserted that pk before then (a
        ``save()`` of a stale instance does), and nothing would have recomputed its copy.
        """
        connection = connections[using]
        if not connection.in_atomic_block:
            return False
        if not capabilities(connection).row_locks:
            return True
        manager = self.model._base_manager.using(using)
        for batch in _chunks(_ordered(pks), BATCH):
            locked = _for_update(manager.filter(pk__in=batch).order_by("pk"), connection)
            found = set(locked.values_list("pk", flat=True))
            if existing and len(found) < len(batch):
                missing = sorted(set(batch) - found, key=str)
                raise IntegrityError(
                    f"{self.model._meta.label} {missing} does not exist: a link to it would "
                    "fail its foreign key (it was deleted, perhaps by another transaction)"
                )
        return True

    def resync_related(self, related_pk: Any, using: str) -> None:
        """Rewrite the parents of a related object whose mirrored attributes changed.

        In order: lock the parents linked now; lock the related row ``FOR UPDATE``, which
        waits for any recompute still holding it ``FOR KEY SHARE`` (one that may have read
        the old value) to commit, and makes later ones wait for this transaction; then look
        the links up again, since a recompute that committed meanwhile may have added one.
        """
        connection = connections[using]
        related = self.relation.related_model._base_manager.using(using).filter(pk=related_pk)
        with transaction.atomic(using=using, savepoint=False):
            parents = self.parents_of([related_pk], using)
            self.lock(parents, using)
            if capabilities(connection).row_locks:
                list(related.select_for_update().values_list("pk", flat=True))
                later = self.parents_of([related_pk], using) - parents
                self.lock(later, using)
                parents |= later
            self.write(parents, using)

    def write(self, pks: Iterable[Any], using: str) -> dict[Any, Any]:
        """Recompute and write these parents, which the caller has locked (the hot path:
        one query and one UPDATE per batch). Returns the values written."""
        written: dict[Any, Any] = {}
        for batch in _chunks(_ordered(pks), BATCH):
            truth = self._compute(batch, using, key_share=self._key_share(using))
            self._update(truth, using)
            written.update(truth)
        return written

    # -- internals -----------------------------------------------------------------------

    def _key_share(self, using: str) -> bool:
        connection = connections[using]
        locks = capabilities(connection).key_share_lock and connection.in_atomic_block
        return bool(self.fields) and locks

    def _compute(self, pks: Sequence[Any], using: str, key_share: bool) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for batch in _chunks(pks, BATCH):
            # parent -> {related pk: mirrored attributes}; a set of pks in effect, as an
            # explicit through model may link the same pair twice.
            found: dict[Any, dict[Any, tuple[Any, ...]]] = {}
            for parent_fk, related_fk in self.relation.directions:
                for parent, related, *attrs in self._links(
                    batch, parent_fk.attname, related_fk, using, key_share
                ):
                    found.setdefault(parent, {})[related] = tuple(attrs)
            if self.fields:
                values = {pk: fields_value(found.get(pk, {}), self.fields) for pk in batch}
            else:
                values = {pk: ids_value(found.get(pk, {}), self.as_json) for pk in batch}
            result.update(values)
        return result

    def _links(
        self, batch: Sequence[Any], parent: str, related_fk: Any, using: str, key_share: bool
    ) -> Iterable[tuple[Any, ...]]:
        """(parent pk, related pk, *mirrored attributes) for each through row of the batch:
        one query, joined to the related table only when attributes are mirrored."""
        rel = self.relation
        rows = rel.through._base_manager.using(using).filter(**{f"{parent}__in": batch})
        paths = [f"{related_fk.name}__{name}" for name in self.fields]
        selected = rows.order_by().values_list(parent, related_fk.attname, *paths)
        if key_share and self.fields:
            return _key_share_locked(selected, rel.related_model._meta.db_table)
        return selected

    def _read(self, pks: Sequence[Any], using: str, lock: bool) -> dict[Any, Any]:
        """The stored values of the parents that exist, locked if asked (a locking read
        returns the newest committed version of a row it had to wait for)."""
        rows = self.model._base_manager.using(using).filter(pk__in=pks).order_by("pk")
        if lock:
            rows = _for_update(rows, connections[using])
        return dict(rows.values_list("pk", self.attname))

    def _stored_batches(self, pks: Iterable[Any] | None, using: str) -> Iterator[dict[Any, Any]]:
        if pks is not None:
            for batch in _chunks(_ordered(pks), BATCH):
                yield self._read(batch, using, lock=False)
            return
        rows = self.model._base_manager.using(using).order_by("pk")
        last = None
        while True:
            page = rows if last is None else rows.filter(pk__gt=last)
            stored = dict(page.values_list("pk", self.attname)[:BATCH])
            if not stored:
                return
            yield stored
            last = next(reversed(stored))

    def _update(self, values: dict[Any, Any], using: str) -> None:
        """One UPDATE per batch: ``SET col = CASE pk WHEN ... END``. Written as SQL, not as
        a queryset update with ``Case(When(...))``: Django builds and resolves a filter per
        ``When``, which made a backfill spend most of its time in Python (about 1,000 rows
        per second). Like a queryset update: no save signals, no other column touched."""
        connection = connections[using]
        quote = connection.ops.quote_name
        meta = self.model._meta
        pk_field = meta.pk
        assert pk_field is not None
        table, pk = quote(meta.db_table), quote(cast(str, pk_field.column))
        column = quote(cast(str, self.field.column))
        value_sql = "%s"
        if connection.vendor == "postgresql":  # a parameter's type is not inferred in CASE
            value_sql = f"CAST(%s AS {self.field.db_type(connection)})"
        for batch in _chunks(list(values.items()), BATCH):
            keys = [pk_field.get_db_prep_value(key, connection) for key, _ in batch]
            params: list[Any] = []
            for key, (_, value) in zip(keys, batch, strict=True):
                params += [key, self.field.get_db_prep_save(value, connection)]
            whens = " ".join(f"WHEN %s THEN {value_sql}" for _ in batch)
            marks = ", ".join(["%s"] * len(batch))
            sql = (
                f"UPDATE {table} SET {column} = CASE {pk} {whens} ELSE {column} END "
                f"WHERE {pk} IN ({marks})"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [*params, *keys])


def _for_update(rows: QuerySet[Any, Any], connection: Any) -> QuerySet[Any, Any]:
    """Lock the parents: ``FOR NO KEY UPDATE`` where it exists (it doesn't block the
    ``FOR KEY SHARE`` of recomputes that read the same rows as related rows)."""
    no_key = connection.features.has_select_for_no_key_update
    return rows.select_for_update(no_key=no_key)


def _key_share_locked(rows: QuerySet[Any, Any], table: str) -> list[tuple[Any, ...]]:
    """Run ``rows`` with ``FOR KEY SHARE OF`` the related table (the ORM has no way to say
    it): until this transaction ends, a rename of those rows can't take its FOR UPDATE."""
    compiler = rows.query.get_compiler(using=rows.db)
    sql, params = compiler.as_sql()
    connection = compiler.connection
    aliases = [
        alias
        for alias, join in rows.query.alias_map.items()
        if join.table_name == table and join.join_type is not None
    ]
    sql = f"{sql} FOR KEY SHARE OF {', '.join(map(connection.ops.quote_name, aliases))}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return list(compiler.results_iter(results=[fetched], tuple_expected=True))


def _ordered(pks: Iterable[Any]) -> list[Any]:
    return sorted({pk for pk in pks if pk is not None})


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
