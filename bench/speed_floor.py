"""How fast the default would have to be for the issue's ">= 25x faster than the study's vanilla
U-Net" target, against what its parts cost on this machine: the vanilla U-Net's forward, the
25x budget that follows, and the default's encoder alone, whole forward and whole predict
(pre- and post-processing included). Batch 1 at 256x256, median of N runs, both precisions.

    .venv/bin/python bench/speed_floor.py [--runs 20] [--threads 2] [--model unet_lite0_slim]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import torch  # noqa: E402

from lungseg_core import DEFAULT_MODEL, build_model, get_recipe, load_model, read_xray  # noqa: E402
from lungseg_core.imaging.preprocessing import prepare_input, to_channels  # noqa: E402

from bench.inference import SAMPLE_PATHS, median_ms  # noqa: E402

TARGET_RATIO = 25.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = read_xray(SAMPLE_PATHS[0].read_bytes()).pixels
    vanilla_recipe = get_recipe("unet_vanilla_bce").with_overrides(width=64)
    print(f"# bench/speed_floor.py --runs {args.runs} --threads {torch.get_num_threads()} --model {args.model}"
          f" (torch {torch.__version__}, batch 1, median of {args.runs})")
    print(f"{'precision':<10}{'vanilla 64->1024 fwd':>22}{'25x budget':>12}{args.model + ' encoder':>26}"
          f"{'whole fwd':>11}{'predict':>9}{'ratio now':>11}")
    for precision in ("bf16", "fp32"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        seg = load_model(args.model, precision=precision)
        size = seg.recipe.input_size
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        prepared = prepare_input(small, size)[None]

        def as_input(in_channels: int) -> torch.Tensor:
            x = torch.from_numpy(to_channels(prepared, in_channels)).to(dtype)
            return x.contiguous(memory_format=torch.channels_last)

        x, xv = as_input(seg.recipe.in_channels), as_input(vanilla_recipe.in_channels)
        vanilla = build_model(vanilla_recipe).eval().to(dtype=dtype, memory_format=torch.channels_last)
        with torch.inference_mode():
            vanilla_ms = median_ms(lambda: vanilla(xv), args.runs)
            encoder = getattr(seg.model, "encoder", None)  # the classic U-Net has no separate encoder
            encoder_ms = median_ms(lambda: encoder(x), args.runs) if encoder is not None else float("nan")
            forward_ms = median_ms(lambda: seg.model(x), args.runs)
        predict_ms = median_ms(lambda: seg.predict(small), args.runs)
        encoder_cell = f"{encoder_ms:>24.1f}ms" if encoder_ms == encoder_ms else f"{'(none)':>26}"
        print(f"{precision:<10}{vanilla_ms:>20.1f}ms{vanilla_ms / TARGET_RATIO:>10.1f}ms{encoder_cell}"
              f"{forward_ms:>9.1f}ms{predict_ms:>7.1f}ms{vanilla_ms / predict_ms:>10.1f}x")
    print("# the target needs 'predict' <= '25x budget'; when the encoder alone exceeds the budget no decoder, "
          "post-processing or threading change can meet it with this encoder")


if __name__ == "__main__":
    main()
