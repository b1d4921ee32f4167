#!/usr/bin/env bash
# Run the drift benchmark. Creates .venv-bench (gitignored) with Evidently, which needs
# pandas<3, beside the project's .venv; ours and the scipy loop run in the project's .venv.
#   benchmarks/run_drift.sh [--quick] [--repeats N] [--no-scaling]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import evidently" 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q \
    "evidently==0.7.23" "pandas==2.3.3" "numpy==2.4.6" "scipy==1.17.1" "pyarrow==25.0.1"
fi
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" benchmarks/drift.py --evidently-python .venv-bench/bin/python "$@"
