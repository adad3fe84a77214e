#!/usr/bin/env bash
# Train the click-to-fix network on a CUDA machine (the device tool): wheels in .whl/, the train/val
# split at 256 px in .devdata/cxr256 (made by tools/pack_click_data.py). Weights and log go to $OUT.
#   bash tools/device_train_click.sh MINUTES
set -uo pipefail
MINUTES=${1:-7}
PY=${PY:-python3}
if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
$PY -c "import torch, timm, segmentation_models_pytorch as smp, albumentations as A; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'timm', timm.__version__, 'smp', smp.__version__, 'A', A.__version__)" || exit 4
nproc; nvidia-smi --query-gpu=name,memory.used --format=csv,noheader 2>/dev/null
$PY -m lungseg_core train-click --data .devdata/cxr256 --out "${OUT:-runs/click_fix}" --checkpoint-dir /tmp/click_ckpt \
  --max-minutes "$MINUTES" --max-steps 100000 --batch-size "${BATCH:-32}" --workers "${WORKERS:-12}" --device "${DEVICE:-auto}" \
  2>&1 | tee "${OUT:-runs/click_fix}/train_log.txt"
