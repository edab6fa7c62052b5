"""C11: the natural step is second-order and costly; K-FAC (ACKTR) and PPO approximate it
at near first-order cost.

What is exact, proven in SymPy: for one linear layer with a Gaussian output (a learned
log-std), K-FAC's Kronecker-factored Fisher A (x) G, with the log-std block beside it, is
the Fisher itself, because the output factor G_n = e^{-2s} does not depend on the state;
and what K-FAC drops in general: the blocks between layers (a two-layer linear network,
where the exact Fisher's cross-layer block is not zero).

What is measured (lazily imported JAX, float64 for the checks): the same identity and the
MLP's difference numerically (``npg_num.kfac`` against the dense Fisher of the mean KL),
and the cost model beside measured times for MLP widths 16, 64 and 256:

    dense F:   O(P^2) memory, O(N K P^2) to form, O(P^3) to solve
    FVP + CG:  O(k P N) time, O(P) memory
    K-FAC:     O(N sum_l (d_in^2 + d_out^2)) factors + O(sum_l (d_in^3 + d_out^3)) inverses

The comparison of directions (cosines, KL, surrogate gain) and the learning curves come
from ``python benchmarks/approximations.py``; this section shows its latest results when
``report/bench_approximations.json`` exists, and says so.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import time
from pathlib import Path

import sympy as sp

from npg_sym import tidy

from ._core import Derivation, main_for

CLAIM = "C11"
TITLE = "NPG is second-order and costly; K-FAC (ACKTR) and PPO approximate it cheaply"
STATEMENT = (
    "Dense F costs O(P^2) memory and an O(P^3) solve; Fisher-vector products with CG cost "
    "O(k P N); K-FAC costs O(d_in^3 + d_out^3) per layer and is exact for one linear layer "
    "with a Gaussian output; measured: cost per step as a multiple of one gradient, and how "
    "close each direction comes to the exact natural step."
)

ROOT = Path(__file__).resolve().parents[1]
BENCH_JSON = ROOT / "report" / "bench_approximations.json"
BENCH_FIGURE = ROOT / "report" / "figures" / "approximations_curves.png"
WIDTHS = (16, 64, 256)
COST_STATES, COST_OBS, COST_ACTIONS, CG_ITERS = 256, 4, 2, 10


def _log_normal(mean, s, a):
    """log N(a; mean, e^{2s})."""
    return -(a - mean) ** 2 * sp.exp(-2 * s) / 2 - s - sp.log(2 * sp.pi) / 2


def _expect(expr, a, mean, s):
    """E_{a ~ N(mean, e^{2s})}[expr], exactly, for expr polynomial in a: a = mean + e^s eps,
    then E[eps^k] = (k - 1)!! for even k, 0 for odd k."""
    eps = sp.Symbol("epsilon", real=True)
    poly = sp.Poly(sp.expand(expr.subs(a, mean + sp.exp(s) * eps)), eps)
    return tidy(sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0)
                    for (k,), c in poly.terms()))


def _fisher(params, log_prob, a, mean, s):
    """F = E_a[grad log pi grad log pi^T], by its definition."""
    score = [sp.diff(log_prob, p) for p in params]
    return sp.Matrix(len(params), len(params),
                     lambda i, j: _expect(score[i] * score[j], a, mean, s))


def _linear_layer(d: Derivation) -> None:
    """One linear layer x -> w . x + b, Gaussian output with log-std s, two states."""
    w1, w2, b, s, z = sp.symbols("w_1 w_2 b s z", real=True)
    a = sp.Symbol("a", real=True)
    xs = [sp.symbols(f"x_{n}1 x_{n}2", real=True) for n in (1, 2)]
    params = (w1, w2, b, s)
    per_state, g_n, f_ss = [], [], []
    for xa, xb in xs:
        mean = w1 * xa + w2 * xb + b
        log_prob = _log_normal(mean, s, a)
        per_state.append(_fisher(params, log_prob, a, mean, s))
        score_z = sp.diff(_log_normal(z, s, a), z).subs(z, mean)  # d log pi / d z
        g_n.append(_expect(score_z**2, a, mean, s))
        f_ss.append(_expect(sp.diff(log_prob, s) ** 2, a, mean, s))
    F = (per_state[0] + per_state[1]) / 2
    x_aug = [sp.Matrix([xa, xb, 1]) for xa, xb in xs]
    A = (x_aug[0] * x_aug[0].T + x_aug[1] * x_aug[1].T) / 2
    G = sp.Matrix([[(g_n[0] + g_n[1]) / 2]])
    K = sp.diag(sp.kronecker_product(A, G), tidy((f_ss[0] + f_ss[1]) / 2))
    d.say(
        "**Exact: one linear layer, Gaussian output.** $\\pi(a|x) = N(a;\\, w^\\top x + b,\\, "
        "e^{2s})$, parameters $\\theta = (w_1, w_2, b, s)$, two states $x_1, x_2$ (all "
        "symbolic). The Fisher of the mean KL, $F = \\tfrac12 \\sum_n E_a[\\nabla \\log\\pi\\, "
        "\\nabla\\log\\pi^\\top]$, by its definition (exact Gaussian moments: $a = \\mu + "
        "e^s \\varepsilon$, $E[\\varepsilon^k] = (k-1)!!$ for even $k$); K-FAC's "
        "$A = \\tfrac12\\sum_n \\tilde x_n \\tilde x_n^\\top$ ($\\tilde x = (x, 1)$), "
        "$G = \\tfrac12\\sum_n E_a[(\\partial \\log\\pi / \\partial z)^2]$ at the "
        "pre-activation $z$, and the log-std block beside $A \\otimes G$:"
    )
    d.show("F", F)
    d.show("G_1", g_n[0])
    d.identity("the output factor does not depend on the state: G_1 = G_2", g_n[0], g_n[1])
    d.identity("G_n = e^{-2s} (the Gaussian's Fisher in its mean)", g_n[0], sp.exp(-2 * s))
    d.identity("K-FAC equals the Fisher: blockdiag(A (x) G, F_ss) = F", K, F,
               label=r"\mathrm{blockdiag}(A \otimes G,\ F_{ss}) = F")
    d.say("So for this layer the K-FAC natural step *is* the natural step; the identity "
          "needs only that $G_n$ is the same at every state.")


def _two_layers(d: Derivation) -> None:
    """x -> h = u x -> mean = v h + c: the exact Fisher couples u and v; K-FAC drops it."""
    u, v, c, s, a = sp.symbols("u v c s a", real=True)
    x1, x2 = sp.symbols("x_1 x_2", real=True)
    params = (u, v, c)
    F = sum((_fisher(params, _log_normal(v * u * x + c, s, a), a, v * u * x + c, s)
             for x in (x1, x2)), sp.zeros(3, 3)) / 2
    cross = F[0, 1]
    want = sp.exp(-2 * s) * u * v * (x1**2 + x2**2) / 2
    d.say(
        "**Not exact: two layers.** $h = u x$, mean $= v h + c$ (scalars, Gaussian output "
        "with fixed log-std $s$), two states. K-FAC keeps one block per layer, so its "
        "$(u, v)$ entry is 0, while the Fisher's is"
    )
    d.identity("F_uv = e^{-2s} u v (x_1^2 + x_2^2) / 2", cross, want,
               label=r"F_{uv} = \tfrac12 e^{-2s} u v (x_1^2 + x_2^2)")
    point = {u: 1, v: 2, s: 0, x1: 1, x2: sp.Rational(1, 2)}
    d.require("F_uv != 0 (so K != F): at u=1, v=2, s=0, x=(1, 1/2) it is 5/4",
              sp.Eq(cross.subs(point), sp.Rational(5, 4)) is sp.true)


def _random_theta(policy, rng, scale, dtype):
    """Flat parameters drawn i.i.d. N(0, scale^2) on the host: a step's cost and the
    identities checked here hold at any parameters, and host draws compile nothing (an
    initializer run eagerly compiles a small program per shape, which cost the proof more
    than the times it measures)."""
    import jax.numpy as jnp

    return jnp.asarray(rng.normal(0.0, scale, policy.num_params), dtype)


def _mlp_parts(width, seed):
    """(policy, theta, obs, actions, advantages) for a 2-hidden-layer tanh MLP, float32,
    all drawn on the host."""
    import jax.numpy as jnp
    import numpy as np

    import npg_num

    rng = np.random.default_rng(seed)
    policy = npg_num.mlp_policy_spec(COST_OBS, COST_ACTIONS, hidden=(width, width))
    theta = _random_theta(policy, rng, 1.0 / np.sqrt(width), jnp.float32)
    obs = jnp.asarray(rng.normal(size=(COST_STATES, COST_OBS)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, COST_ACTIONS, COST_STATES), jnp.int32)
    adv = jnp.asarray(rng.normal(size=COST_STATES), jnp.float32)
    return policy, theta, obs, actions, adv


def _cost_functions(policy, obs, actions, adv):
    import jax
    import jax.numpy as jnp

    from npg_num import make_fvp, natural_step
    from npg_num.kfac import kfac_factors, kfac_solve

    head = policy.head

    def grad(t):
        return jax.grad(lambda t: jnp.mean(head.log_prob(policy.apply(t, obs), actions)
                                           * adv))(t)

    def cg(t):
        fvp = make_fvp(lambda q: policy.apply(q, obs), head, t)
        return natural_step(grad(t), fvp, 0.01, damping=0.01, cg_iters=CG_ITERS,
                            cg_tol=0.0).step

    def kfac(t):
        return kfac_solve(policy, kfac_factors(policy, t, obs, actions), grad(t), 0.01)

    def dense(t):
        jac = jax.jacrev(lambda q: policy.apply(q, obs))(t)  # [N, K, P]
        p = jax.nn.softmax(policy.apply(t, obs), -1)
        fj = p[..., None] * jac - p[..., None] * jnp.einsum("nk,nkp->np", p, jac)[:, None]
        f = jnp.einsum("nkp,nkq->pq", jac, fj) / obs.shape[0]
        return jnp.linalg.solve(f + 0.01 * jnp.eye(t.size, dtype=t.dtype), grad(t))

    return {"grad": grad, "cg": cg, "kfac": kfac, "dense": dense}


def _median_ms(fns: dict, arg, rounds: int) -> dict:
    """Median wall time (ms) of each jitted function of ``fns`` on ``arg``, compiled first
    (not timed), called round-robin ``rounds`` times so that background load hits each
    alike (as benchmarks/fvp.py does)."""
    import jax

    compiled = {k: f.lower(arg).compile() for k, f in fns.items()}
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(arg))
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * sorted(t)[len(t) // 2] for k, t in times.items()}


def _cost_model(d: Derivation) -> None:
    import jax

    from npg_num.xla_cpu import compiler_options

    # as the trainer compiles (LLVM -O1 on CPU): the same run times, shorter compiles
    options = compiler_options()
    rows = ["| width | P | dense F: P^2 floats | dense: form + solve, ms (x grad) | "
            f"FVP + CG({CG_ITERS}), ms (x grad) | K-FAC: sum d_in^3 + d_out^3 | K-FAC step, "
            "ms (x grad) | gradient, ms |", "|---|---|---|---|---|---|---|---|"]
    for width in WIDTHS:
        policy, theta, obs, actions, adv = _mlp_parts(width, width)
        fns = {k: jax.jit(f, compiler_options=options)
               for k, f in _cost_functions(policy, obs, actions, adv).items()}
        p = int(theta.size)
        sizes = [(COST_OBS + 1, width), (width + 1, width), (width + 1, COST_ACTIONS)]
        kfac_cubes = sum(i**3 + o**3 for i, o in sizes)
        ms = _median_ms({k: fns[k] for k in ("grad", "cg", "kfac")}, theta, 9)
        dense_gb = 4 * p * p / 1e9
        if dense_gb < 1.0:
            ms.update(_median_ms({"dense": fns["dense"]}, theta, 1))
            dense = f"{ms['dense']:.1f} ({ms['dense'] / ms['grad']:.0f})"
        else:
            dense = f"not run: F alone needs {dense_gb:.0f} GB (float32)"
        rows.append(
            f"| {width} | {p} | {p * p:.2e} | {dense} | {ms['cg']:.2f} "
            f"({ms['cg'] / ms['grad']:.1f}) | {kfac_cubes:.2e} | {ms['kfac']:.2f} "
            f"({ms['kfac'] / ms['grad']:.1f}) | {ms['grad']:.3f} |")
    d.say(
        f"**The cost model, measured** (this run, `python -m proofs C11`): a tanh MLP "
        f"{COST_OBS} -> width -> width -> {COST_ACTIONS} logits, {COST_STATES} states, "
        "float32, one CPU process, each step jitted with the trainer's compiler options "
        "(`npg_num.xla_cpu.compiler_options`) and compiled first, median of 9 calls "
        "taken round-robin (1 call for dense). "
        "Dense: the Jacobian route $F = J^\\top F_{out} J / N$ and a direct solve. "
        "Times vary from run to run and with the machine's load; the multiples of one "
        "gradient are the comparable figures."
    )
    d.table("\n".join(rows))


def _numeric_twin(d: Derivation) -> None:
    """float64: the identity and the MLP's difference through ``npg_num.kfac``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import npg_num
    from npg_num.kfac import kfac_factors, kfac_matvec, kfac_solve
    from npg_num.xla_cpu import compiler_options

    jit = functools.partial(jax.jit, compiler_options=compiler_options())

    def dense_pair(hidden, head, seed):
        rng = np.random.default_rng(seed)
        policy = npg_num.mlp_policy_spec(3, 2, hidden=hidden, head=head, dtype=jnp.float64)
        theta = _random_theta(policy, rng, 1.0, jnp.float64)
        obs = jnp.asarray(rng.normal(size=(64, 3)), jnp.float64)

        @jit
        def pair(theta):
            exact = npg_num.policy_fisher(lambda t: policy.apply(t, obs), policy.head, theta)
            factors = kfac_factors(policy, theta, obs)
            return exact, npg_num.densify(kfac_matvec(policy, factors), theta.size), factors

        exact, kfac, factors = pair(theta)
        return policy, theta, factors, np.asarray(exact), np.asarray(kfac)

    with jax.enable_x64(True):
        _, _, _, f1, k1 = dense_pair((), "diag_gaussian", 0)
        rel1 = float(np.abs(k1 - f1).max() / np.abs(f1).max())
        policy, theta, factors, f2, k2 = dense_pair((8, 8), "categorical", 1)
        rel2 = float(np.abs(k2 - f2).max() / np.abs(f2).max())
        g = jnp.asarray(np.random.default_rng(5).normal(size=theta.shape), jnp.float64)
        x = np.linalg.solve(f2 + 1e-3 * np.eye(theta.size), np.asarray(g))
        u = np.asarray(jit(lambda f, g: kfac_solve(policy, f, g, 1e-3))(factors, g))
        cos = float(x @ u / (np.linalg.norm(x) * np.linalg.norm(u)))
    d.say("**The numeric twin** (`npg_num.kfac`, float64, 64 random states): for one "
          f"linear layer (3 inputs, 2 Gaussian outputs, learned log-std) the largest entry "
          f"of K - F is {rel1:.1e} of F's largest; for an 8x8 tanh MLP with a softmax "
          f"output it is {rel2:.2f}, and the K-FAC direction's cosine to the exact natural "
          f"direction (damping 1e-3, a random g) is {cos:.3f}.")
    d.require("numeric twin: one linear Gaussian layer, |K - F| <= 1e-10 |F|", rel1 <= 1e-10)
    d.require("numeric twin: an MLP's K differs from F (by > 1e-3 |F|)", rel2 > 1e-3)
    d.require("the MLP's cosine is finite and in [-1, 1]", bool(np.isfinite(cos))
              and -1.0 <= cos <= 1.0)


def _benchmark(d: Derivation) -> None:
    """The benchmark's latest table and curves, when it has been run."""
    if not BENCH_JSON.is_file():
        d.say("**Directions and learning curves:** not in this report: run "
              "`python benchmarks/approximations.py` (part of `make bench`), then "
              "`python -m proofs C11` to include its results here.")
        return
    res = json.loads(BENCH_JSON.read_text())
    load = res["load_avg_at_start"][0]
    d.say(f"**Directions compared with the exact natural step**: the latest results of "
          f"`{res['command']}`, started {res['date']} (load average {load:.1f} "
          "at its start), read from `report/bench_approximations.json`; not re-measured by "
          "this proof. Every step but PPO's is sized to the same delta by its own metric; "
          "vanilla is sized by the exact F; time is for computing the step, as a multiple "
          "of one gradient (middle snapshot).")
    rows = ["| env | snapshot | method | cosine | KL / delta | surrogate gain | time x grad |",
            "|---|---|---|---|---|---|---|"]
    for r in res["table"]:
        t = "" if r["x_grad"] is None else f"{r['x_grad']:.1f}"
        rows.append(f"| {r['env']} | {r['snapshot']} | {r['method']} | {r['cosine']:.3f} | "
                    f"{r['kl_over_delta']:.2f} | {r['gain']:.2e} | {t} |")
    d.table("\n".join(rows))
    if "curves" in res:
        rows = ["| env | algo | mean final | solved at (env steps) | compile s | run s |",
                "|---|---|---|---|---|---|"]
        for c in res["curves"].values():
            final = sum(c["final"]) / len(c["final"])
            rows.append(f"| {c['env']} | {c['algo']} | {final:.1f} | "
                        f"{c['reached'] if c['reached'] is not None else 'never'} | "
                        f"{c['compile_s']:.1f} | {c['run_s']:.1f} |")
        d.table("\n".join(rows))
    if BENCH_FIGURE.is_file() and d.figure_dir is not None:
        path = d.figure("approximations_curves.png",
                        "npg, trpo, acktr and ppo: mean return over 8 seeds "
                        "(benchmarks/approximations.py)")
        if path.resolve() != BENCH_FIGURE.resolve():
            shutil.copyfile(BENCH_FIGURE, path)


def derive(d: Derivation) -> None:
    _linear_layer(d)
    _two_layers(d)
    _numeric_twin(d)
    _cost_model(d)
    _benchmark(d)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
