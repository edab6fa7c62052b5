"""A categorical policy over 4 actions with softmax logits t1..t4: a singular Fisher.

    pi(k) = e^(t_(k+1)) / sum_j e^(t_j),   F = diag(p) - p p^T,   F 1 = 0

Shifting every logit by the same constant leaves the policy unchanged, so F has rank 3 and
the natural step is taken on range(F) (the pseudo-inverse step, as in K3).

Run: npg-derive examples/families/categorical_softmax4.py
"""

import sympy as sp

import npg_sym

x = sp.Symbol("x", integer=True, nonnegative=True)

FAMILY = npg_sym.categorical_softmax(4, name="categorical_softmax4", outcome=x)
