#!/usr/bin/env bash
# Train every registered recipe in turn (resumable: rerun after an interruption).
# Usage: tools/train_all.sh DATA_DIR [OUT_DIR] [MODEL ...]
set -euo pipefail
data=${1:?usage: tools/train_all.sh DATA_DIR [OUT_DIR] [MODEL ...]}
out=${2:-weights}
shift $(( $# >= 2 ? 2 : 1 ))
cd "$(dirname "$0")/.."
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(unet_lite0_slim unet_lite0 unet_lite0_512 unet_small_bn unet_vanilla_bce_jaccard unet_bn_bce_jaccard_dice unet_vanilla_bce linknet_effb3 unet_effb3)
fi
export HF_HUB_OFFLINE=1
mkdir -p runs
for m in "${models[@]}"; do
  if [ -f "$out/$m.safetensors" ] && [ -f "$out/$m.json" ] && [ ! -f "$out/checkpoints/$m.ckpt.pt" ]; then
    echo "skip $m (already trained)"; continue
  fi
  echo "=== $m $(date -u +%FT%TZ)"
  .venv/bin/python -m lungseg_core train --model "$m" --data "$data" --out "$out" 2>&1 | stdbuf -oL tr '\r' '\n' | grep --line-buffered -v -E '^\s*$|it/s|s/it' > "runs/$m.log" || exit 1
  rm -f "$out/checkpoints/$m.ckpt.pt"
done
