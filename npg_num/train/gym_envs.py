"""Making one gymnasium environment, by registered ID or by a user's entry point, with
one-line errors (``NPGInputError``) for everything a user can get wrong.

- ``make_gym_env(env_id, env_module)``: ``gymnasium.make(env_id)`` (its wrappers, the
  time limit among them, kept), or for ``pkg.module:ClassName`` the class called with no
  arguments. ``env_module`` (``--env-module``) names the packages to import first, comma
  separated: the ones whose import registers the ID (rl-zoo's ``--gym-packages``).
- ``family(env_id)``: where gymnasium's registry takes the ID from (``mujoco``,
  ``box2d``, ``classic_control``, ``toy_text``, ...; ``user`` for anything else), and
  ``EXTRAS``: the pip line that installs what a family needs.

The current directory is put on ``sys.path`` (as ``python -m`` does) before a user's
module is imported, so ``--env mypkg.envs:MyEnv`` works from the folder holding ``mypkg``
whether or not the package is installed; worker processes do the same.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..errors import NPGInputError

__all__ = ["make_gym_env", "import_env_modules", "load_entry_point", "family",
           "require_gymnasium", "EXTRAS", "GYMNASIUM_EXTRA", "is_entry_point"]

# the packages themselves: right for a checkout and an installed wheel alike
EXTRAS = {
    "mujoco": "pip install 'gymnasium[mujoco]>=1.0'",
    "box2d": "pip install 'gymnasium[box2d]'",
    "classic_control": "pip install 'gymnasium[classic-control]'",
    "toy_text": "pip install 'gymnasium[toy-text]'",
}
GYMNASIUM_EXTRA = "pip install 'gymnasium>=1.0'"
# the module each family's simulator comes from
_PROBES = {"mujoco": "mujoco", "box2d": "Box2D"}


def require_gymnasium(env_id: str):
    try:
        import gymnasium
    except ImportError:
        raise NPGInputError(f"{env_id} needs gymnasium, which is not installed; install it "
                            f"with: {GYMNASIUM_EXTRA}") from None
    return gymnasium


def is_entry_point(env_id: str) -> bool:
    return ":" in env_id


def _cwd_on_path() -> None:
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def import_env_modules(env_module: str) -> None:
    """Import each comma-separated module of ``env_module`` (``--env-module``)."""
    names = [m.strip() for m in (env_module or "").split(",") if m.strip()]
    if names:
        _cwd_on_path()
    for name in names:
        _import_users_module(name, f"--env-module {name}")


def _import_users_module(name: str, flag: str):
    """``importlib.import_module(name)``; a missing module or an error raised by the user's
    code is one ``NPGInputError`` line naming ``flag``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise NPGInputError(
            f"{flag}: no module named {err.name!r}; install your package "
            f"(pip install -e PATH) or run from the folder that holds it") from None
    except Exception as err:  # noqa: BLE001 - the user's code: one line, its error named
        raise NPGInputError(f"{flag}: importing {name} failed with "
                            f"{type(err).__name__}: {err}") from None


def load_entry_point(env_id: str):
    """The class (or factory) named ``pkg.module:ClassName``."""
    module_name, _, attr = env_id.partition(":")
    if not module_name or not attr:
        raise NPGInputError(f"--env {env_id}: an entry point is written pkg.module:ClassName")
    _cwd_on_path()
    module = _import_users_module(module_name, f"--env {env_id}")
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise NPGInputError(f"--env {env_id}: {module_name} has no {attr!r}") from None
    if not callable(obj):
        raise NPGInputError(f"--env {env_id}: {attr} is not a class")
    return obj


def family(env_id: str) -> str:
    """The subpackage of ``gymnasium.envs`` that registers ``env_id`` (``mujoco``,
    ``box2d``, ...), or ``user`` (an entry point, or an ID another package registers)."""
    if is_entry_point(env_id):
        return "user"
    gym = require_gymnasium(env_id)
    spec = gym.registry.get(env_id)
    entry = spec.entry_point if spec is not None else None
    if isinstance(entry, str) and entry.startswith("gymnasium.envs."):
        return entry.split(".")[2].split(":")[0]
    return "user"


def _missing_dependency(env_id: str, err: Exception) -> NPGInputError:
    hint = EXTRAS.get(family(env_id))
    if hint is None:
        return NPGInputError(f"{env_id} cannot be made: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}".rstrip(": "))
    return NPGInputError(f"{env_id} needs gymnasium's {family(env_id)} environments, which are "
                         f"not installed; install them with: {hint}")


def make_gym_env(env_id: str, env_module: str = "", **kwargs):
    """One environment of ``env_id`` (a registered ID or ``pkg.module:ClassName``);
    ``kwargs`` go to ``gymnasium.make`` or the class (``render_mode="rgb_array"``)."""
    gym = require_gymnasium(env_id)
    import_env_modules(env_module)
    if is_entry_point(env_id):
        cls = load_entry_point(env_id)
        try:
            env = cls(**kwargs)
        except Exception as err:  # noqa: BLE001 - the user's code: one line, its error named
            raise NPGInputError(f"--env {env_id}: {env_id.partition(':')[2]}() failed with "
                                f"{type(err).__name__}: {err}") from None
        if not isinstance(env, gym.Env):
            raise NPGInputError(f"--env {env_id}: made a {type(env).__name__}, not a "
                                "gymnasium.Env (reset() -> (obs, info), step(a) -> (obs, "
                                "reward, terminated, truncated, info))")
        return env
    probe = _PROBES.get(family(env_id))
    if probe is not None:  # gymnasium may hold the family's module already; ask directly
        try:
            importlib.import_module(probe)
        except ImportError as err:
            raise _missing_dependency(env_id, err) from None
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise _missing_dependency(env_id, err) from None
    except ImportError as err:
        raise _missing_dependency(env_id, err) from None
    except gym.error.Error as err:  # unknown name or version, a deprecated environment
        raise NPGInputError(f"--env {env_id}: {str(err).splitlines()[0]}") from None
