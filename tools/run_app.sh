#!/usr/bin/env bash
# Set up (first run only) and start LungSeg Studio on http://localhost:8501 with the bundled
# weights and the local defaults. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup_venv.sh requirements.txt
export HF_HUB_OFFLINE=1
# Two malloc arenas instead of one per thread: the server's peak memory drops by ~15 % (bench/memory.py).
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
exec .venv/bin/python -m streamlit run app.py "$@"
