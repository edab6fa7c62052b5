"""Errors raised for bad input: one plain sentence naming the value and what is allowed."""

__all__ = ["NPGInputError"]


class NPGInputError(ValueError):
    """Bad input to an npg_sym function (unknown family, delta <= 0, a non-symmetric F, ...)."""
