"""Runnable examples the docs point at: type-checked by mypy and run by the tests."""
