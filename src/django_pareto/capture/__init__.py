"""Capture: what each request of the site does, measured inside the site, on a budget."""
