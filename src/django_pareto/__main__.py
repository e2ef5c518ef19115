"""``python -m django_pareto ...`` is the ``pareto`` console script."""

from __future__ import annotations

from django_pareto.cli.main import main

main()
