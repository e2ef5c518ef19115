"""``python manage.py pareto ...``: the same commands as the ``pareto`` console script."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "django-pareto: record a workload, report where the time goes, manage runs."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help="subcommand and its options")

    def run_from_argv(self, argv: list[str]) -> None:
        # click parses the options itself; Django's parser would reject them.
        self._run(argv[2:], prog_name=f"{argv[0]} pareto")

    def handle(self, *args: Any, **options: Any) -> None:
        self._run(list(args), prog_name="manage.py pareto")

    def _run(self, args: list[str], prog_name: str) -> None:
        from django_pareto.cli.main import cli

        try:
            cli.main(
                args=args, prog_name=prog_name, obj={"django_ready": True}, standalone_mode=True
            )
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
