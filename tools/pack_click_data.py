"""Pack the train and val splits at 256 px (images) + full-size masks for a device run of
`train-click` (the data folder is too large to travel whole): .devdata/cxr256/ with a manifest.

    .venv/bin/python tools/pack_click_data.py --data ../shared/data/cxr-lungs
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cxr-lungs")
    ap.add_argument("--out", default=".devdata/cxr256")
    args = ap.parse_args()
    src, dst = Path(args.data), Path(args.out)
    rows = [r for r in csv.DictReader(open(src / "manifest.csv")) if r["split"] in ("train", "val")]
    out = []
    for r in rows:
        image = cv2.imread(str(src / r["image_path"]), cv2.IMREAD_UNCHANGED)
        ip, mp = Path("images") / f"{r['id']}.png", Path("masks") / f"{r['id']}.png"
        for p in (ip, mp):
            (dst / p).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dst / ip), cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(dst / mp), cv2.imread(str(src / r["mask_path"]), cv2.IMREAD_GRAYSCALE))
        out.append({"id": r["id"], "source": r["source"], "split": r["split"], "image_path": str(ip), "mask_path": str(mp)})
    with open(dst / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    print(f"{len(out)} cases -> {dst}")


if __name__ == "__main__":
    main()
