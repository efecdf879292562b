"""Helpers shared by several test modules (strategies, small graph builders)."""
