"""What the database does for keeping mirrors exact: the few facts that differ by vendor."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class Capabilities:
    # Writers run concurrently (row locks exist): parents are locked before they are
    # recomputed. SQLite serializes writers, so it needs none of this.
    row_locks: bool
    # ``SELECT ... FOR KEY SHARE OF t``: a recompute that copies related attributes keeps
    # the rows it read from being locked FOR UPDATE until it commits (a rename takes that
    # lock before it recomputes, so it waits for such a recompute and then sees its link).
    # KEY SHARE conflicts with nothing else: not with parents locked FOR NO KEY UPDATE,
    # not with other recomputes, not with updates of other columns.
    key_share_lock: bool


_KNOWN = {
    "postgresql": Capabilities(row_locks=True, key_share_lock=True),
    "sqlite": Capabilities(row_locks=False, key_share_lock=False),
}


def capabilities(connection: BaseDatabaseWrapper) -> Capabilities:
    known = _KNOWN.get(connection.vendor)
    if known is not None:
        return known
    return Capabilities(row_locks=connection.features.has_select_for_update, key_share_lock=False)
