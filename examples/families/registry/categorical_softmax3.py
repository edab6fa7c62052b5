"""The registry's categorical_softmax3, written out: softmax logits (t1, t2, t3) on {0, 1, 2}.

Its Fisher is singular (the logit shift (1, 1, 1) is in its null space): the natural step
is the pseudo-inverse one, on range(F).
"""

import sympy as sp

import npg_sym

t1, t2, t3 = sp.symbols("t1 t2 t3", real=True)
x = sp.Symbol("x", real=True)
picked = sp.Piecewise((t1, sp.Eq(x, 0)), (t2, sp.Eq(x, 1)), (t3, True))

FAMILY = npg_sym.Family(
    "categorical_softmax3", (t1, t2, t3), x,
    picked - sp.log(sp.exp(t1) + sp.exp(t2) + sp.exp(t3)), (0, 1, 2),
    "categorical over {0, 1, 2} with softmax logits",
)
