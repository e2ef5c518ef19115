from __future__ import annotations

import pytest

from tests.report.browser import SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.write_line("HTML report screenshots (full page):")
        for path in SCREENSHOTS:
            terminalreporter.write_line(f"  {path}")
