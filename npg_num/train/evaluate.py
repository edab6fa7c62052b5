"""``npg-eval``: the deterministic policy of a run's last checkpoint, N episodes per seed.

The policy acts with its mode (the Gaussian mean, clipped to the action bounds; the most
probable action of a categorical head) on observations normalized with the statistics
saved in the checkpoint, frozen. Published MuJoCo returns (sb3-contrib, rl-zoo, tianshou)
are evaluation returns of this kind, which run well above the stochastic training
returns in ``metrics.csv``: compare like with like.

- host runs (gymnasium IDs, your own ``pkg.module:ClassName``): gymnasium's environments
  (the reference implementation, whatever backend trained the run), ``seeds x episodes``
  of them at once, one jitted policy call per step; an episode ends when the environment
  says terminated or truncated (its own time limit), or after ``MAX_EPISODE_STEPS`` steps
  where it has none.
- gymnax runs: every episode in one jitted program (``lax.scan`` to the time limit).

Episode k of trained seed s starts from the reset seed ``1_000_000 * (1 + S) + 1_000 * s
+ k`` (``S`` = ``--seed``), far from the seeds training used.

Prints one row per trained seed and ``mean_return=X std=Y`` over all episodes. Bad input
(no run, an unreadable checkpoint, a video file that exists) is one line on stderr, exit 2.

``--video FILE.mp4`` (or ``.gif``) also records episode 0 of the first trained seed
(``npg_num.train.video``): where the environment draws rgb_array frames (gymnasium's
render, headless OpenGL for MuJoCo; gymnax's visualizer), else one line says why not.

    npg-eval runs/hopper --episodes 10
    npg-eval runs/make-run --video cartpole.mp4
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..console import OneLineParser, run_main, whole_in
from ..errors import NPGInputError

__all__ = ["main", "evaluate_run", "EvalResult"]

PROG = "npg-eval"
# reset seeds 1_000_000 * (1 + S) + 1_000 * seed index + episode stay below 2^31 and do not
# collide across trained seeds (at most 1,000 episodes each)
MAX_EVAL_SEED = 2000
MAX_EPISODES = 1000
# an episode of an environment without a time limit of its own ends here
MAX_EPISODE_STEPS = 10_000


def build_parser():
    parser = OneLineParser(prog=PROG,
                           description="Evaluate the deterministic policy of a training run's "
                           "last checkpoint (frozen observation normalization), N episodes per "
                           "seed.")
    parser.add_argument("run", metavar="DIR", help="a run directory written by npg-train")
    parser.add_argument("--episodes", type=whole_in(1, MAX_EPISODES), default=10, metavar="N",
                        help=f"episodes per trained seed, 1 to {MAX_EPISODES} (default: 10)")
    parser.add_argument("--seed", type=whole_in(0, MAX_EVAL_SEED), default=0, metavar="S",
                        help=f"seed of the evaluation episodes' resets, 0 to {MAX_EVAL_SEED} "
                        "(default: 0)")
    parser.add_argument("--video", metavar="FILE.mp4", default=None,
                        help="also record episode 0 of the first trained seed (an episode "
                        "the table counts) into this new .mp4 or .gif file; needs the video "
                        "extra: pip install 'npg[video]'")
    parser.add_argument("--video-seeds", type=whole_in(1, MAX_EPISODES), default=1,
                        metavar="N", help="record the first N trained seeds' episode 0, one "
                        "after another (default: 1)")
    return parser


class EvalResult:
    """Returns [seeds, episodes] of a run's deterministic policy."""

    def __init__(self, seeds, returns, lengths):
        self.seeds = list(seeds)
        self.returns = np.asarray(returns, float)
        self.lengths = np.asarray(lengths, int)

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


def _reset_seed(eval_seed: int, seed_index: int, episode: int) -> int:
    return 1_000_000 * (1 + eval_seed) + 1_000 * seed_index + episode


def _load(run: Path):
    """(config, learner state) of the run in ``run``: theta, obs_norm, with seeds first."""
    from .checkpoint import load_checkpoint
    from .config import TrainConfig
    from .rundir import CHECKPOINT_FILE, CONFIG_FILE
    from .runner import make_runner
    from .state import TrainState

    if not (run / CONFIG_FILE).is_file():
        raise NPGInputError(f"no run in {run}: {CONFIG_FILE} is missing")
    try:
        config = TrainConfig.from_dict(json.loads((run / CONFIG_FILE).read_text()))
    except (ValueError, TypeError) as err:
        raise NPGInputError(f"cannot read {run / CONFIG_FILE}: {err}") from None
    if not (run / CHECKPOINT_FILE).is_file():
        raise NPGInputError(f"no checkpoint in {run}: the run has not saved one yet")
    runner = make_runner(config, 1)
    try:
        tree, _ = load_checkpoint(run / CHECKPOINT_FILE, runner.template())
    finally:
        runner.close()
    state = tree if isinstance(tree, TrainState) else tree[0]  # (state, simulators)
    return config, state


def _mode_fn(config, spec):
    """jit(vmap over seeds) of (theta, obs_norm, obs[N, D]) -> the policy's mode."""
    import jax
    import jax.numpy as jnp

    from ..networks import mlp_policy_spec
    from .normalization import normalize

    policy = mlp_policy_spec(spec.obs_dim, spec.action_dim, hidden=config.hidden,
                             head=spec.head, dtype=jnp.dtype(config.dtype))

    def one(theta, obs_norm, obs):
        out = policy.apply(theta, normalize(obs_norm, obs.astype(theta.dtype),
                                            config.normalize_obs))
        return policy.head.mode(out)

    return jax.jit(jax.vmap(one))


def _env_action(spec, a):
    if spec.discrete:
        return int(a) + spec.action_start
    return np.clip(a, spec.action_low, spec.action_high)


def _evaluate_host(config, spec, state, episodes: int, eval_seed: int):
    """Every seed's episodes at once on gymnasium's environments, stepping only the
    environments whose episode is still running."""
    from .host_envs import GymnasiumEnvs

    s, n = config.seeds, config.seeds * episodes
    seeds = [_reset_seed(eval_seed, i, k) for i in range(s) for k in range(episodes)]
    envs = GymnasiumEnvs(spec.env_id, seeds, config.env_module)
    limit = spec.max_episode_steps or MAX_EPISODE_STEPS
    mode = _mode_fn(config, spec)
    try:
        flat = envs.reset_all()
        returns, lengths, active = np.zeros(n), np.zeros(n, int), np.ones(n, bool)
        while active.any():
            action = np.asarray(mode(state.theta, state.obs_norm, flat.reshape(s, episodes, -1)))
            action = action.reshape((n,) + action.shape[2:])
            for i in np.flatnonzero(active):
                # the wrapped environment (MuJoCo's are bare: the limit is counted here)
                o, r, term, trunc, _ = envs.envs[i].step(_env_action(spec, action[i]))
                o = np.asarray(o, np.float64).reshape(-1)
                returns[i] += r
                lengths[i] += 1
                flat[i] = o
                if term or trunc or lengths[i] >= limit or not np.all(np.isfinite(o)):
                    active[i] = False
    finally:
        envs.close()
    return returns.reshape(s, episodes), lengths.reshape(s, episodes)


def _evaluate_device(config, spec, state, episodes: int, eval_seed: int):
    """gymnax: every episode of every seed in one jitted program."""
    import jax
    import jax.numpy as jnp

    from .normalization import normalize
    from ..networks import mlp_policy_spec

    env, params = spec.env, spec.params
    policy = mlp_policy_spec(spec.obs_dim, spec.action_dim, hidden=config.hidden,
                             head=spec.head, dtype=jnp.dtype(config.dtype))
    low = None if spec.discrete else jnp.asarray(spec.action_low)
    high = None if spec.discrete else jnp.asarray(spec.action_high)

    def episode(theta, obs_norm, key):
        k_reset, k_steps = jax.random.split(key)
        obs, env_state = env.reset_env(k_reset, params)
        obs = obs.reshape(-1)

        def step(carry, k):
            obs, env_state, ret, length, done = carry
            out = policy.apply(theta, normalize(obs_norm, obs.astype(theta.dtype),
                                                config.normalize_obs))
            action = policy.head.mode(out)
            if not spec.discrete:
                action = jnp.clip(action, low, high)
            obs2, state2, r, term, _ = env.step_env(k, env_state, action, params)
            obs2 = obs2.reshape(-1)
            live = ~done
            ret = ret + jnp.where(live, r, 0.0)
            length = length + live.astype(jnp.int32)
            done = done | term | env.is_truncated(state2, params)
            return (obs2, state2, ret, length, done), None

        init = (obs, env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                jnp.zeros((), bool))
        keys = jax.random.split(k_steps, spec.max_episode_steps)
        (_, _, ret, length, _), _ = jax.lax.scan(step, init, keys)
        return ret, length

    keys = jnp.stack([
        jnp.stack([jax.random.PRNGKey(_reset_seed(eval_seed, i, k)) for k in range(episodes)])
        for i in range(config.seeds)
    ])
    run = jax.jit(jax.vmap(jax.vmap(episode, in_axes=(None, None, 0))))
    ret, length = run(state.theta, state.obs_norm, keys)
    return np.asarray(ret), np.asarray(length)


def _prepare(run):
    """(config, environment spec, learner state on the host) of the run in ``run``."""
    import jax

    from .envs import make_env

    config, state = _load(Path(run))
    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    return config, make_env(config.env, config.env_module), jax.device_get(state)


def evaluate_run(run, episodes: int = 10, eval_seed: int = 0, *, prepared=None) -> EvalResult:
    """The deterministic policy of the run in directory ``run``, ``episodes`` per seed."""
    config, spec, state = prepared or _prepare(run)
    evaluate = _evaluate_host if spec.on_host else _evaluate_device
    returns, lengths = evaluate(config, spec, state, episodes, eval_seed)
    return EvalResult([config.seed + i for i in range(config.seeds)], returns, lengths)


def _main(argv) -> int:
    from .devices import add_hang_guard

    args = build_parser().parse_args(argv)
    video = None
    if args.video is not None:
        from .video import check_video_path

        video = check_video_path(args.video)  # before any work
    add_hang_guard()  # before the first JAX computation
    prepared = _prepare(args.run)
    result = evaluate_run(args.run, args.episodes, args.seed, prepared=prepared)
    print(f"{'seed':>6} {'episodes':>8} {'mean':>10} {'std':>9} {'min':>10} {'max':>10} "
          f"{'length':>7}")
    for seed, r, n in zip(result.seeds, result.returns, result.lengths):
        print(f"{seed:>6} {len(r):>8} {r.mean():>10.1f} {r.std():>9.1f} {r.min():>10.1f} "
              f"{r.max():>10.1f} {n.mean():>7.0f}")
    print(f"mean_return={result.mean:.2f} std={result.std:.2f}")
    if video is not None:
        from .video import record_video

        shown = record_video(video, *prepared, args.seed, args.video_seeds)
        print(f"video: {video} (" + ", ".join(f"seed {s}: return {r:.1f} in {n} steps"
                                              for s, r, n in shown) + ")")
    return 0


def main(argv=None) -> int:
    """Entry point of ``npg-eval``; returns the exit code (2 for bad input, one line)."""
    return run_main(PROG, lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
