"""Report: where the time of a run goes (terminal, JSON, a self-contained HTML page)."""
