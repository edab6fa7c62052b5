"""``npg-eval DIR --video out.mp4``: the deterministic policy's episodes as a video.

Episode 0 of the evaluation of the first trained seed (``--video-seeds N``: of the first N,
one after another in one file), from the same reset seed as the evaluation's, so a video
shows the episode whose return the table counts.

- gymnasium environments (host runs) are drawn by their own ``render_mode="rgb_array"``.
  MuJoCo draws with OpenGL: without a display it needs a headless context; where
  ``MUJOCO_GL`` is unset, EGL and then OSMesa are tried, and where neither works one line
  says so (see docs/training.md).
- gymnax environments are drawn by ``gymnax.visualize.Visualizer`` (classic control,
  MinAtar, bsuite's Catch and the misc tasks it knows), each frame a matplotlib figure.

The file is written by imageio (``.mp4`` through imageio-ffmpeg's bundled ffmpeg, ``.gif``
through Pillow): the ``video`` extra, ``pip install 'npg[video]'``. It is written to a
temporary file beside the target and linked into place at the end, so an interrupted run
leaves no half video, and an existing file is never replaced.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import NPGInputError

__all__ = ["check_video_path", "record_video", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".gif")
_HEADLESS_GL = ("egl", "osmesa")


def check_video_path(path) -> Path:
    """``path`` if a video can be written there, else one-line ``NPGInputError``: before
    any evaluation runs."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise NPGInputError(f"--video {path}: the file name must end in .mp4 or .gif")
    if path.exists() or path.is_symlink():
        raise NPGInputError(f"--video {path}: the file exists and npg-eval does not replace "
                            "files; choose another name or move it away")
    folder = path.parent
    if not folder.is_dir():
        raise NPGInputError(f"--video {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NPGInputError(f"--video {path}: cannot write in the folder {folder}")
    try:
        import imageio.v2  # noqa: F401
    except ImportError:
        raise NPGInputError("--video needs imageio, which is not installed; install it with: "
                            "pip install 'npg[video]'") from None
    if path.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise NPGInputError("--video: an .mp4 needs imageio-ffmpeg, which is not "
                                "installed; install it with: pip install 'npg[video]' (or "
                                "write a .gif)") from None
    return path


def _quiet_drawing() -> None:
    """pygame (gymnasium's drawing) without its banner, a window or a sound card."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # rgb_array frames: no window


class _Writer:
    """Frames appended to a temporary file beside ``path``, linked to ``path`` on success
    (``os.link`` fails rather than replace a file that appeared meanwhile)."""

    def __init__(self, path: Path, fps: float):
        import imageio.v2 as iio

        self.path = path
        self.tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        options = {"fps": fps}
        if path.suffix.lower() == ".mp4":
            # frames are padded to even sizes (x264's need), so imageio must not resize them
            options.update(macro_block_size=2, ffmpeg_log_level="error")
        else:
            options = {"duration": 1000.0 / fps, "loop": 0}
        self._writer = iio.get_writer(self.tmp, **options)
        self.frames = 0

    def append(self, frame) -> None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise NPGInputError(f"the environment rendered an array of shape {frame.shape}, "
                                "not an RGB image (height, width, 3)")
        frame = frame[..., :3].astype(np.uint8, copy=False)
        pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
        with warnings.catch_warnings():
            # imageio-ffmpeg starts ffmpeg (fork and exec at once) on the first frame: JAX's
            # warning about forking a threaded process does not apply to it
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                    category=RuntimeWarning)
            self._writer.append_data(np.pad(frame, pad, mode="edge") if any(p[1] for p in pad)
                                     else frame)
        self.frames += 1

    def finish(self) -> None:
        self._writer.close()
        if self.frames == 0:
            raise NPGInputError("no frame was rendered, so no video was written")
        os.link(self.tmp, self.path)
        self.tmp.unlink()

    def discard(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - closing a broken writer; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)


def _no_drawing(env_id: str, err: Exception) -> NPGInputError:
    """gymnasium's drawing needs pygame (classic control, Box2D): say how to get it."""
    return NPGInputError(f"drawing {env_id} needs a package that is not installed "
                         f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                         "install the video extra: pip install 'npg[video]'")


def _seed_slice(tree, i: int):
    import jax

    return jax.tree_util.tree_map(lambda x: x[i:i + 1], tree)


def _rgb_renderer(spec, env_module: str):
    """(env to step, a function drawing its current frame) for a host environment."""
    from .gym_envs import make_gym_env
    from .host_envs import _is_mujoco

    try:
        env = make_gym_env(spec.env_id, env_module, render_mode="rgb_array")
    except NPGInputError as err:
        if "render_mode" in str(err):  # the user's class takes no render_mode
            raise NPGInputError(f"{spec.env_id} cannot draw frames: it takes no "
                                "render_mode argument (gymnasium's render API: "
                                "render_mode='rgb_array', render() -> an RGB array)") from None
        raise
    base = env.unwrapped
    if _is_mujoco(base):
        _headless_mujoco(env, spec.env_id)
        return base, base.render  # stepped bare, as npg-eval steps it
    return env, env.render


def _headless_mujoco(env, env_id: str) -> None:
    """Make MuJoCo's offscreen renderer work without a display, or say why it cannot."""
    env.reset(seed=0)
    chosen = os.environ.get("MUJOCO_GL")
    tries = [chosen] if chosen else list(_HEADLESS_GL)
    errors = []
    for backend in tries:
        os.environ["MUJOCO_GL"] = backend
        try:
            frame = env.unwrapped.render()
            if frame is not None:
                return
            errors.append(f"MUJOCO_GL={backend}: no frame")
        except Exception as err:  # noqa: BLE001 - GL's failures come in many types
            errors.append(f"MUJOCO_GL={backend}: {type(err).__name__}: {err}")
            renderer = getattr(env.unwrapped, "mujoco_renderer", None)
            if renderer is not None:  # drop the half-made viewer before the next backend
                renderer._viewers, renderer.viewer = {}, None
    if not chosen:
        del os.environ["MUJOCO_GL"]
    raise NPGInputError(f"cannot draw {env_id}: MuJoCo found no headless OpenGL here ("
                        + "; ".join(errors) + "); install EGL (a GPU driver, or Mesa's libegl1) "
                        "or OSMesa (libosmesa6), or set MUJOCO_GL to a backend that works")


def _frame(draw, env_id: str):
    try:
        frame = draw()
    except NotImplementedError:
        frame = None
    if frame is None:
        raise NPGInputError(f"{env_id} draws no rgb_array frames (its render() is missing or "
                            "returned None), so npg-eval cannot record it")
    return frame


def _record_host(config, spec, state, eval_seed, writer, env, draw, mode, reset_seed, limit,
                 seeds):
    from .evaluate import _env_action

    episodes = []
    for i in range(min(seeds, config.seeds)):
        theta, obs_norm = _seed_slice(state.theta, i), _seed_slice(state.obs_norm, i)
        obs = np.asarray(env.reset(seed=reset_seed(eval_seed, i, 0))[0],
                         np.float64).reshape(-1)
        ret, length, done = 0.0, 0, False
        while not done:
            writer.append(_frame(draw, spec.env_id))
            action = np.asarray(mode(theta, obs_norm, obs.reshape(1, 1, -1)))[0, 0]
            obs, r, term, trunc, _ = env.step(_env_action(spec, action))
            obs = np.asarray(obs, np.float64).reshape(-1)
            ret += float(r)
            length += 1
            done = term or trunc or length >= limit or not np.all(np.isfinite(obs))
        writer.append(_frame(draw, spec.env_id))
        episodes.append((config.seed + i, ret, length))
    return episodes


def _record_gymnax(config, spec, state, eval_seed, writer, reset_seed, seeds):
    """Episode 0 of each seed as ``npg-eval`` plays it (the same keys), drawn afterwards by
    gymnax's Visualizer one state at a time."""
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")

    from ..networks import mlp_policy_spec
    from .normalization import normalize

    env, params = spec.env, spec.params
    policy = mlp_policy_spec(spec.obs_dim, spec.action_dim, hidden=config.hidden,
                             head=spec.head, dtype=jnp.dtype(config.dtype))

    # two compiled programs (an episode's start, one step with its action), so that
    # nothing is compiled op by op in the loop below
    @jax.jit
    def start(key):
        k_reset, k_steps = jax.random.split(key)
        obs, env_state = env.reset_env(k_reset, params)
        return obs, env_state, jax.random.split(k_steps, spec.max_episode_steps)

    @jax.jit
    def step(key, env_state, theta, obs_norm, obs):
        out = policy.apply(theta, normalize(obs_norm, obs.reshape(-1).astype(theta.dtype),
                                            config.normalize_obs))
        action = policy.head.mode(out)
        if not spec.discrete:
            action = jnp.clip(action, spec.action_low, spec.action_high)
        obs, env_state, r, term, _ = env.step_env(key, env_state, action, params)
        return obs, env_state, r, term | env.is_truncated(env_state, params)

    thetas, obs_norms = jax.device_get((state.theta, state.obs_norm))  # [seeds, ...]
    episodes = []
    for i in range(min(seeds, config.seeds)):
        theta = jax.tree_util.tree_map(lambda x: x[i], thetas)
        obs_norm = jax.tree_util.tree_map(lambda x: x[i], obs_norms)
        obs, env_state, keys = start(jax.random.PRNGKey(reset_seed(eval_seed, i, 0)))
        states, returns, ret = [env_state], [0.0], 0.0
        for k in keys:
            obs, env_state, r, ended = step(k, env_state, theta, obs_norm, obs)
            ret += float(r)
            states.append(env_state)
            returns.append(ret)
            if bool(ended):
                break
        episodes.append((config.seed + i, ret, len(states) - 1))
        _draw_gymnax(env, params, states, returns, writer, spec.env_id)
    return episodes


def _draw_gymnax(env, params, states, returns, writer, env_id: str) -> None:
    """Classic control through gymnasium's own drawing of the same state (fast); the rest
    through gymnax's matplotlib Visualizer (a figure per frame)."""
    from .envs import import_gymnax

    try:  # the drawing modules are imported where they are used
        vis_gym = import_gymnax("gymnax.visualize.vis_gym")
    except ImportError:  # a gymnax without gymnasium adapters: the Visualizer draws all
        vis_gym = None
    if vis_gym is not None and env_id in getattr(vis_gym, "SUPPORTED_GYM_ENVS", ()):
        _draw_with_gymnasium(vis_gym, params, states, writer, env_id)
        return
    import matplotlib.pyplot as plt

    Visualizer = import_gymnax("gymnax.visualize").Visualizer

    vis = Visualizer(env, params, states, returns)
    try:
        vis.init()
        if not hasattr(vis, "im"):
            raise NPGInputError(f"gymnax's {env_id} has no drawing in gymnax.visualize, so "
                                "npg-eval cannot record it")
        for t in range(len(states)):
            vis.update(t)
            vis.fig.canvas.draw()
            writer.append(np.asarray(vis.fig.canvas.buffer_rgba()))
    finally:
        plt.close(vis.fig)


def _draw_with_gymnasium(vis_gym, params, states, writer, env_id: str) -> None:
    import gymnasium as gym

    try:
        gym_env = gym.make(env_id, render_mode="rgb_array")
        gym_env.reset(seed=0)
        base = gym_env.unwrapped
        vis_gym.set_gym_params(base, env_id, params)
        for state in states:
            base.state = vis_gym.get_gym_state(state, env_id)
            if hasattr(state, "last_u"):  # Pendulum draws its last torque
                base.last_u = np.asarray(state.last_u, np.float64)
            writer.append(gym_env.render())
    except gym.error.DependencyNotInstalled as err:
        raise _no_drawing(env_id, err) from None
    finally:
        if "gym_env" in locals():
            gym_env.close()


def record_video(path: Path, config, spec, state, eval_seed: int, seeds: int = 1) -> list:
    """Write the video of episode 0 of the first ``seeds`` trained seeds; [(seed, return,
    length)] of the episodes it shows."""
    from . import evaluate

    _quiet_drawing()
    if not spec.on_host:
        writer = _Writer(path, fps=20.0)
        try:
            episodes = _record_gymnax(config, spec, state, eval_seed, writer,
                                      evaluate._reset_seed, seeds)
            writer.finish()
        except BaseException:
            writer.discard()
            raise
        return episodes
    env, draw = _rgb_renderer(spec, config.env_module)
    try:
        writer = _Writer(path, fps=float(env.metadata.get("render_fps") or 30))
        try:
            limit = spec.max_episode_steps or evaluate.MAX_EPISODE_STEPS
            try:
                episodes = _record_host(config, spec, state, eval_seed, writer, env, draw,
                                        evaluate._mode_fn(config, spec),
                                        evaluate._reset_seed, limit, seeds)
            except Exception as err:
                if type(err).__name__ == "DependencyNotInstalled":  # gymnasium.error's
                    raise _no_drawing(spec.env_id, err) from None
                raise
            writer.finish()
        except BaseException:
            writer.discard()
            raise
    finally:
        env.close()
    return episodes
