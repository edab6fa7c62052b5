"""Errors for people: one plain sentence naming the bad value and what is allowed."""

__all__ = ["NPGInputError"]


class NPGInputError(ValueError):
    """Bad input to an npg_num function or the trainer's configuration."""
