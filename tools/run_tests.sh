#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup_venv.sh requirements-dev.txt
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
