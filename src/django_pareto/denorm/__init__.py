"""Many-to-many relations mirrored into a field of the parent that never drifts.

Add ``"django_pareto.denorm"`` to ``INSTALLED_APPS``, then declare the copy next to the
relation::

    class Article(models.Model):
        tags = models.ManyToManyField(Tag, related_name="articles")
        tag_ids = MirrorField("tags")                           # [3, 7, 12]
        tag_info = MirrorField("tags", fields=["name", "slug"])  # [{"id": 3, ...}, ...]
        tag_pks = MirrorArrayField("tags")                      # PostgreSQL: bigint[]

Every change of the relation recomputes the copy of the parents it touches, in the same
transaction; ``Article.objects.filter(tag_ids__has=3)`` filters by the copy. Writes that
bypass Django's signals are found and repaired by ``pareto denorm check --repair``.
See docs/denorm.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_pareto.denorm.fields import MirrorField
from django_pareto.denorm.mirror import Mirror
from django_pareto.denorm.registry import mirrors

if TYPE_CHECKING:
    from django_pareto.denorm.arrayfield import MirrorArrayField

__all__ = ["Mirror", "MirrorArrayField", "MirrorField", "mirrors"]


def __getattr__(name: str) -> Any:
    # MirrorArrayField needs django.contrib.postgres (and psycopg): imported on first use,
    # so that sites without PostgreSQL can use the rest.
    if name == "MirrorArrayField":
        from django_pareto.denorm.arrayfield import MirrorArrayField

        return MirrorArrayField
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
