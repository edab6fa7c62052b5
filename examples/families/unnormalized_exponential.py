"""A deliberately wrong family: the exponential without its normalizing rate.

exp(-lam x) integrates to 1/lam, not 1; npg-derive rejects it (exit 1) and names the
failed check ("normalized"). The score -x then has mean -1/lam^2, not 0.

Run: npg-derive examples/families/unnormalized_exponential.py    # exits 1
"""

import sympy as sp

import npg_sym

lam = sp.Symbol("lam", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="unnormalized_exponential",
    params=(lam,),
    outcome=x,
    log_prob=-lam * x,  # wrong: log(lam) is missing
    support=sp.Interval(0, sp.oo),
    description="exponential without log(lam): integrates to 1/lam",
)
