"""The console reports print to."""

from __future__ import annotations

import os

from rich.console import Console

# Piped into a file or a CI log, rich assumes 80 columns, which folds the wide tables of
# the reports into unreadable cells; a log has no width limit, so give them room.
PIPED_WIDTH = 160


def make_console() -> Console:
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=PIPED_WIDTH)
    return console
