"""Verify: replay a workload through the site, and (later) compare runs before and after."""
