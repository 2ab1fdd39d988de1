"""Xene: a distributed workflow runner."""

__version__ = "0.1.0"
