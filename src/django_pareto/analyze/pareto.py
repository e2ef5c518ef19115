"""Pareto ranking and percentiles: plain-data functions, no Django, no store."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")

PARETO_CUT = 0.8


@dataclass(frozen=True, slots=True)
class Ranked(Generic[K]):
    key: K
    total: float
    share: float  # of the grand total
    cumulative_share: float  # of this item and all ranked above it
    in_top: bool  # part of the smallest head that reaches PARETO_CUT of the total


def rank(totals: Iterable[tuple[K, float]], cut: float = PARETO_CUT) -> list[Ranked[K]]:
    """Rank items by total (largest first, ties by key) with their shares.

    ``in_top`` marks the items up to and including the one where the cumulative share
    first reaches ``cut``: the few that cause most of the time.
    """
    items = sorted(totals, key=lambda kv: (-kv[1], str(kv[0])))
    grand = sum(total for _, total in items)
    ranked: list[Ranked[K]] = []
    running = 0.0
    reached = False
    for key, total in items:
        running += total
        share = total / grand if grand else 0.0
        cumulative = running / grand if grand else 0.0
        ranked.append(Ranked(key, total, share, min(cumulative, 1.0), not reached))
        # Float sums can land a hair under the cut; a tolerance keeps 0.8 reaching 0.8.
        reached = reached or cumulative >= cut - 1e-9
    return ranked


def rank_groups(
    rows: Iterable[R], key: Callable[[R], K], total: Callable[[R], float]
) -> list[tuple[Ranked[K], list[R]]]:
    """Group ``rows`` by ``key``, rank the groups by summed ``total``; each with its rows."""
    groups: dict[K, list[R]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    ranked = rank((k, sum(total(r) for r in members)) for k, members in groups.items())
    return [(item, groups[item.key]) for item in ranked]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks.

    The same definition as numpy's default and ``statistics.quantiles(method="inclusive")``.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * min(max(p, 0.0), 100.0) / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
