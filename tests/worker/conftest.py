"""Fixtures shared by the worker tests."""

from tests.worker.test_pipeline import world

__all__ = ["world"]
