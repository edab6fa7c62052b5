"""npg_num.train.sweep: ``npg-sweep``, many npg-train runs on Ray Tune (docs/sweeps.md).

Optional: it needs the ``sweep`` extra (``pip install 'npg[sweep]'``: Ray Tune, Optuna);
nothing else in npg_num imports it. One concern a module:

- ``spec``: the sweep file (TOML) and its trials (``Trial``: a setting on all seeds);
- ``folder``: the sweep folder (made, locked, resumed; the recorded proposals);
- ``trial``: one trial, npg-train on its run directory in a fresh process;
- ``engine``: Ray Tune (local or ``--address``), Optuna's TPE for a ``[search]``;
- ``progress``: the display while it runs; ``results``: results.csv, .md and .png;
- ``cli``: ``npg-sweep``.
"""

from .spec import SweepSpec, Trial, grid_trials, load_spec, make_trial, parse_spec

__all__ = ["SweepSpec", "Trial", "grid_trials", "load_spec", "make_trial", "parse_spec"]
