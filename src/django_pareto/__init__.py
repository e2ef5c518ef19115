"""django-pareto: measure a Django site, rank where its time goes, fix the top, measure again."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
