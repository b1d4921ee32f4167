#!/usr/bin/env bash
# Run the drift speed benchmark: ours and the scipy loop and the single-core floor in the
# project's .venv, Evidently and NannyML in .venv-bench (created from
# benchmarks/requirements-bench.txt on first use).
#   benchmarks/run_drift.sh [--quick] [--shape 250kx25|1Mx25|200kx100 ...] [--repeats N]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/bench_env.sh
exec "$PROJECT_PY" benchmarks/drift.py --peer-python "$BENCH_PY" "$@"
