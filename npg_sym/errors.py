"""Errors raised for bad input: one plain sentence naming the value and what is allowed."""

__all__ = ["NPGInputError", "NotClosedError"]


class NPGInputError(ValueError):
    """Bad input to an npg_sym function (unknown family, delta <= 0, a non-symmetric F, ...)."""


class NotClosedError(ArithmeticError):
    """No exact route closed a quantity: never an unevaluated Integral, Sum or nan instead.

    ``quantity`` names what was being derived (``E[f]`` over a support, a Hessian at
    theta' = theta), ``tried`` holds one ``(route, why it did not close)`` pair per route,
    in the order they were tried.
    """

    def __init__(self, quantity: str, tried: tuple[tuple[str, str], ...]):
        self.quantity = quantity
        self.tried = tuple(tried)
        routes = "; ".join(f"{route}: {why}" for route, why in self.tried) or "no route applies"
        super().__init__(f"{quantity} could not be derived exactly. Tried {routes}")
