"""Analyze: pure functions over stored records (never imports capture)."""
