"""Shared fixtures: the bundled sample cases and a tiny data folder in the training layout."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def sample_cases() -> list[dict[str, str]]:
    with open(SAMPLES / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture()
def tiny_data_dir(tmp_path: Path) -> Path:
    """The four sample cases laid out as a data folder: 2 train, 1 val, 1 test."""
    splits = ["train", "train", "val", "test"]
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "source", "split", "image_path", "mask_path"])
        for row, split in zip(sample_cases(), splits):
            shutil.copy(SAMPLES / row["image_path"], tmp_path / row["image_path"])
            shutil.copy(SAMPLES / row["mask_path"], tmp_path / row["mask_path"])
            writer.writerow([row["id"], row["source"], split, row["image_path"], row["mask_path"]])
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests run beside other work on 2 cores; one intra-op thread avoids oversubscription."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def app_store(tmp_path_factory) -> Path:
    """The corrections store used by the app server in browser tests."""
    return tmp_path_factory.mktemp("browser-store")


@pytest.fixture(scope="session")
def app_url(app_store):
    """`streamlit run app.py` on a loopback port, shared by the browser tests."""
    from lungseg_app.local_server import streamlit_app

    with streamlit_app(env={"LUNGSEG_STORE": str(app_store)}) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    from lungseg_app.local_server import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
