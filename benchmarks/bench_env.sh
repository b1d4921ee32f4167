# Sourced by benchmarks/run_drift.sh and benchmarks/run_alerts.sh (bash), from the repo root.
#
# .venv-bench: the peers (Evidently, NannyML) from benchmarks/requirements-bench.txt, beside the
# project's .venv and never mixed with it. Idempotent like ./dev: a stamp holds a hash of the
# requirements file and Python version; a change re-runs pip in place, and the install time is
# printed. Sets PROJECT_PY (ours; PROJECT_PYTHON overrides, otherwise .venv, created by
# ./dev setup when missing) and BENCH_PY, and turns the peers' telemetry off.
# A fresh install took 114 s (104 s with pip's cache warm) on the 2-core machine and fills
# 2.3 GB: NannyML pulls FLAML -> xgboost with its CUDA NCCL wheel (0.8 GB), and kaleido.

BENCH_VENV=.venv-bench
BENCH_REQ=benchmarks/requirements-bench.txt
BENCH_PYTHON_BIN=${PYTHON_BIN:-python3.11}

bench_want=$( { cat "$BENCH_REQ"; "$BENCH_PYTHON_BIN" -V; } | sha256sum | cut -c1-16)
bench_have=$(cat "$BENCH_VENV/.stamp" 2>/dev/null || true)
if [ "$bench_want" != "$bench_have" ]; then
  bench_start=$SECONDS
  echo "bench: installing peers into $BENCH_VENV from $BENCH_REQ" >&2
  [ -x "$BENCH_VENV/bin/python" ] || "$BENCH_PYTHON_BIN" -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$BENCH_REQ" \
    2> >(grep -v "is ignored: it is neither" >&2)
  echo "$bench_want" > "$BENCH_VENV/.stamp"
  echo "bench: $BENCH_VENV ready in $((SECONDS - bench_start)) s" >&2
fi
BENCH_PY=$BENCH_VENV/bin/python

if [ -n "${PROJECT_PYTHON:-}" ]; then
  PROJECT_PY=$PROJECT_PYTHON
else
  PROJECT_PY=.venv/bin/python
  [ -x "$PROJECT_PY" ] || ./dev setup
fi

# No network at run time: NannyML's usage logging (segment) and Evidently's telemetry
# (iterative-telemetry) are off; the Python drivers also run peers in an empty network
# namespace (unshare --net) where the machine allows it.
export NML_DISABLE_USAGE_LOGGING=1 DO_NOT_TRACK=1 ITERATIVE_DO_NOT_TRACK=1
