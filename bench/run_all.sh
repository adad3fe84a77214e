#!/usr/bin/env bash
# Run every benchmark on an otherwise idle machine and keep their printed figures in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/cxr-lungs}
mkdir -p bench/results
export HF_HUB_OFFLINE=1
.venv/bin/python bench/inference.py --runs 20 2>&1 | grep -v -i warn | tee bench/results/inference.txt
.venv/bin/python bench/inference.py --runs 20 --precision fp32 2>&1 | grep -v -i warn | tee bench/results/inference_fp32.txt
.venv/bin/python bench/app_latency.py --runs 10 2>&1 | grep -v -i warn | tee bench/results/app_latency.txt
.venv/bin/python bench/retrain.py --data "$data" 2>&1 | grep -v -i -E "warn|it/s|s/it" | tee bench/results/retrain.txt
.venv/bin/python bench/robustness.py --data "$data" 2>&1 | grep -v -i warn | tee bench/results/robustness.txt
.venv/bin/python bench/speed_floor.py --runs 20 2>&1 | grep -v -i warn | tee bench/results/speed_floor.txt
.venv/bin/python bench/val_ceiling.py --data "$data" 2>&1 | grep -v -i warn | tee bench/results/val_ceiling.txt
.venv/bin/python bench/severe_changes.py --data "$data" 2>&1 | grep -v -i warn | tee bench/results/severe_changes.txt
.venv/bin/python bench/memory.py --data "$data" 2>&1 | grep -v -i warn | tee bench/results/memory.txt
.venv/bin/python bench/load.py --data "$data" --sessions 8 2>&1 | grep -v -i warn | tee bench/results/load.txt
.venv/bin/python bench/quality_estimate.py --data "$data" 2>&1 | grep -v -i warn
.venv/bin/python bench/worklist_throughput.py --data "$data" --n 500 2>&1 | grep -v -i warn
.venv/bin/python bench/worklist_browser.py --data "$data" --cases 20 2>&1 | grep -v -i warn
[ -f bench/loop_work/loop_base.safetensors ] || .venv/bin/python bench/loop_base.py 2>&1 | grep -v -i -E "warn|it/s|s/it"
.venv/bin/python bench/loop.py --habit --test 2>&1 | grep -v -i -E "warn|it/s|s/it"
