# The two commands of the README: `make run` and `make test`. Each creates .venv with
# python3 -m venv and installs the project with pip when it is missing (or when
# pyproject.toml changed since).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXTRAS := $(VENV)/.installed-extras-stamp
DOCS   := $(VENV)/.installed-docs-stamp
# docs/platform.md: a hang in XLA's CPU thread pool with vmapped training loops; this flag
# guards against it (the entry points set it too, through npg_num.xla_cpu).
export XLA_FLAGS := --xla_cpu_enable_concurrency_optimized_scheduler=false $(XLA_FLAGS)
export PYTHONUNBUFFERED := 1

.PHONY: run test proofs docs bench bench-mujoco venv clean help

help:
	@echo "make run    verify every claim, write report/derivations.md"
	@echo "make test   the test suite (twins, laws, end-to-end)"
	@echo "make docs   the API reference from the docstrings (build/docs/index.html)"
	@echo "make bench  benchmarks (FVP/CG cost; classic-control training speed and returns;"
	@echo "            K-FAC, PPO and truncated CG against the exact natural step;"
	@echo "            npg-derive on the example families)"
	@echo "make bench-mujoco  MuJoCo locomotion: returns at 1M steps, speed against raw"
	@echo "            stepping and sb3-contrib TRPO (about an hour and a half)"

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "is neither a file nor a directory" || true
	@$(PY) -c "import jax, sympy, gymnax, optax, hypothesis" || (echo "install failed" >&2; exit 1)
	@touch $(STAMP)

# the optional extras the tests exercise too: MuJoCo (gymnasium), envpool, Box2D,
# tensorboardX, Ray Tune with Optuna (npg-sweep), and imageio/pygame (npg-eval --video).
# One pip call for the project and the extras together (make test on a fresh clone): a
# second call would resolve and check every base package again (74 s against 104 s here).
$(EXTRAS): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,mujoco,envpool,box2d,tensorboard,sweep,video]' 2>&1 | grep -v "is neither a file nor a directory" || true
	@$(PY) -c "import jax, sympy, gymnax, optax, hypothesis" || (echo "install failed" >&2; exit 1)
	@$(PY) -c "import mujoco, gymnasium, envpool, Box2D, tensorboardX, ray.tune, optuna, imageio, imageio_ffmpeg, pygame" || (echo "install of the optional extras (mujoco, envpool, box2d, tensorboard, sweep, video) failed" >&2; exit 1)
	@touch $(STAMP) $(EXTRAS)

# Sphinx, for the API reference only (make test does not need it)
$(DOCS): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[docs]' 2>&1 | grep -v "is neither a file nor a directory" || true
	@$(PY) -c "import sphinx" || (echo "install of the docs extra failed" >&2; exit 1)
	@touch $(DOCS)

venv: $(STAMP)

proofs: $(STAMP)
	$(PY) -m proofs

# The proofs, then NPG trained on CartPole-v1 to a solved policy (8 seeds, progress bar,
# learning curve in runs/make-run/learning_curve.png).
run: $(STAMP)
	$(PY) -m proofs
	$(VENV)/bin/npg-train --env CartPole-v1 --algo npg --seeds 8 --out runs/make-run --force

# two workers, a test file each at a time (a file's shared fixtures are made once);
# NPG_TEST_WORKERS=0 runs everything in this process, in order
NPG_TEST_WORKERS ?= 2
test: $(EXTRAS)
	$(PY) -m pytest -q $(if $(filter 0,$(NPG_TEST_WORKERS)),,-n $(NPG_TEST_WORKERS) --dist loadfile)

# -W: a warning fails the build; the docstrings' examples run in make test (test_doctests)
docs: $(DOCS)
	$(PY) -m sphinx -W --keep-going -q -b html docs/api build/docs
	@echo "API reference: build/docs/index.html"

bench: $(STAMP)
	$(PY) benchmarks/fvp.py
	$(PY) benchmarks/invariance.py
	$(PY) benchmarks/classic_control.py
	$(PY) benchmarks/approximations.py
	$(PY) benchmarks/derive.py

# MuJoCo locomotion (about an hour and a half on 2 cores): returns at 1M steps beside
# the published ones with --host-schedule batched, then with the seeds in lanes (the MuJoCo
# default) beside sb3-contrib TRPO in the same run (when '.[bench]' is installed; Swimmer
# and Ant in lanes without it), then the speed of the host backends and schedules (the
# lanes against raw stepping in 3 more back-to-back pairs); resumable (results under
# report/locomotion/)
bench-mujoco: $(EXTRAS)
	$(PY) benchmarks/locomotion.py --envs Hopper-v5,HalfCheetah-v5 --seeds 3
	$(PY) benchmarks/locomotion.py --envs Walker2d-v5,Swimmer-v5,Ant-v5 --seeds 3
	$(PY) benchmarks/locomotion.py --envs Hopper-v5,Walker2d-v5,HalfCheetah-v5 --seeds 3 \
		--schedule lanes --backend gymnasium --sb3
	$(PY) benchmarks/locomotion.py --envs Swimmer-v5,Ant-v5 --seeds 3 --schedule lanes \
		--backend gymnasium
	$(PY) benchmarks/locomotion.py --speed --envs Hopper-v5,Walker2d-v5,HalfCheetah-v5 --seeds 3 \
		--pairs 3

# what make itself wrote: the derivation report and benchmark results, make run's own run
# directory, the test caches. Not runs/ as a whole: npg-train's default --out puts the
# user's own runs there
clean:
	rm -rf report runs/make-run .pytest_cache .hypothesis
	@rmdir runs 2>/dev/null || true
