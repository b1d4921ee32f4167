#!/usr/bin/env bash
# Run the alert-quality benchmark: data prepared and the peers (Evidently, NannyML) run in
# .venv-bench, ours and Azure's defaults in the project's .venv.
#   benchmarks/run_alerts.sh [--quick] [--clean N] [--drifted N] [--jobs N] [--datasets a,b]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/bench_env.sh
exec "$PROJECT_PY" benchmarks/alerts.py --peer-python "$BENCH_PY" "$@"
