"""An archive imported and segmented on a local cluster (issue 25): N films (the shared sets repeated with
small changes: shifted a few pixels, brightness nudged, so each is a new case), imported from a folder by
the CLI (streaming, deduplicated in the database), then segmented on a local Dask cluster with 1 or 2
workers, or on Ray with an actor pool (the engine comparison); the store is a durable Postgres plus a
file folder. Prints and appends to bench/results/archive.txt:

    .venv/bin/python bench/archive.py --images 10000 --workers 2
    .venv/bin/python bench/archive.py --images 400 --workers 1 2 --engine dask ray   # the engine choice

Figures: import files/s and the import process's peak RSS; per engine and worker count: start-up s,
images/s, peak RSS per worker; and from the measured per-image cost, the workers 100,000 films a night
(8 h) need.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_core.models.model_versions import default_model_name  # noqa: E402
from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.workflow.cluster_segmentation import CHUNK, segment_chunk, segment_on_cluster  # noqa: E402
from lungseg_core.workflow.corrections_store import open_store  # noqa: E402
from lungseg_core.workflow.worklist import Worklist  # noqa: E402
from lungseg_testing.postgres import fresh_schema_url, postgres_server  # noqa: E402

DATA = [ROOT.parent / "shared" / "data" / "cxr-lungs", ROOT.parent / "shared" / "data" / "jsrt-scr"]


def source_films() -> list[Path]:
    films = []
    for folder in DATA:
        with open(folder / "manifest.csv", newline="") as fh:
            films += [folder / row["image_path"] for row in csv.DictReader(fh)]
    return films


def write_archive(folder: Path, n: int) -> None:
    """n PNG files: film k of the shared sets, changed by round k // len(films) (shift and brightness)."""
    films = source_films()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = np.asarray(Image.open(films[i % len(films)]).convert("L"))
        round_ = i // len(films)
        if round_:
            image = np.clip(np.roll(image, round_, axis=1).astype(np.int16) + round_ % 7, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"film_{i:05d}.png")


def import_folder(folder: Path, address: str) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lungseg_core", "import", str(folder)], cwd=ROOT,
                          env={**os.environ, "LUNGSEG_STORE_URL": address, "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak}


def _unsegment(address: str) -> None:
    """Clear the masks, so each engine and worker count segments the whole archive."""
    con = open_store(address).database.connect()
    try:
        con.execute("UPDATE cases SET mask_hash = NULL, quality = NULL, segmented_at = NULL")
    finally:
        con.close()


def run_dask(address: str, workers: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        up = time.perf_counter() - started
        began = time.perf_counter()
        summary = segment_on_cluster(address, cluster.scheduler_address, default_model_name(), command_line_user())
        seconds = time.perf_counter() - began
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"startup_s": up, "images": summary["done"], "seconds": seconds, "peak_rss_mb": max(peaks.values())}


def run_ray(address: str, workers: int) -> dict[str, float]:
    import ray
    from ray.util import ActorPool

    @ray.remote(num_cpus=1)
    class Segmenter:  # an actor that holds the model (loaded at its first chunk, as a Dask worker does)
        def run(self, numbers: list[int]) -> dict:
            return segment_chunk(address, default_model_name(), command_line_user(), numbers)

        def peak(self) -> float:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}})
    actors = [Segmenter.remote() for _ in range(workers)]
    ray.get([a.peak.remote() for a in actors])
    up = time.perf_counter() - started
    todo = [c.number for c in Worklist(open_store(address)).list_cases() if c.mask_hash is None]
    began = time.perf_counter()
    done = sum(r["done"] for r in ActorPool(actors).map(lambda a, chunk: a.run.remote(chunk),
                                                          [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]))
    seconds = time.perf_counter() - began
    peak = max(ray.get([a.peak.remote() for a in actors]))
    ray.shutdown()
    return {"startup_s": up, "images": done, "seconds": seconds, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--engine", nargs="+", default=["dask"], choices=("dask", "ray"))
    args = parser.parse_args()
    lines = [f"# bench/archive.py --images {args.images} --workers {' '.join(map(str, args.workers))} "
             f"--engine {' '.join(args.engine)}; {time.strftime('%Y-%m-%d')}, 2 cores, one run, durable Postgres"]
    with tempfile.TemporaryDirectory(dir=ROOT.parent if os.access(ROOT.parent, os.W_OK) else None) as tmp:
        folder = Path(tmp) / "archive"
        started = time.perf_counter()
        write_archive(folder, args.images)
        lines.append(f"wrote {args.images} PNG files in {time.perf_counter() - started:.0f} s")
        with postgres_server(Path(tmp) / "pg", durable=True) as url:
            address = f"{fresh_schema_url(url)}&files={Path(tmp) / 'files'}"
            imported = import_folder(folder, address)
            cases = len(Worklist(open_store(address)).list_cases())
            lines.append(f"import: {cases} cases from {args.images} files in {imported['seconds']:.0f} s = "
                         f"{args.images / imported['seconds']:.1f} files/s; import process peak RSS "
                         f"{imported['peak_rss_mb']:.0f} MB")
            for engine in args.engine:
                for workers in args.workers:
                    _unsegment(address)
                    got = (run_dask if engine == "dask" else run_ray)(address, workers)
                    per_image = got["seconds"] / max(1, got["images"])
                    night = 100_000 * per_image * workers / (8 * 3600)
                    lines.append(f"{engine} {workers} worker(s): start-up {got['startup_s']:.1f} s; {got['images']} "
                                 f"images in {got['seconds']:.0f} s = {got['images'] / got['seconds']:.2f} images/s; "
                                 f"peak RSS per worker {got['peak_rss_mb']:.0f} MB; 100,000 films in 8 h need "
                                 f"{night:.1f} such worker cores")
                    print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    with open(ROOT / "bench" / "results" / "archive.txt", "a") as fh:
        fh.write(text + "\n\n")


if __name__ == "__main__":
    main()
