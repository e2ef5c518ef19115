"""Report: where the time of a run goes (terminal, JSON; HTML and dashboard later)."""
