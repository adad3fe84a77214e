"""Importing many X-rays: uploads, a zip and a folder through the one reader; duplicates are one case,
bad files are listed with their reason and the rest imported; no file name or DICOM identifier is kept."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.case_import import ZIP_MAX_FILES, from_paths, from_uploads, from_zip, import_sources
from lungseg_core.errors import LungSegError
from lungseg_core.workflow.worklist import Worklist

from .dicom_factory import PATIENT_ID, PATIENT_NAME, make_dicom
from .people import ANN, NOBODY
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")


def _png(seed, bits=8):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255 if bits == 8 else 60000, (64, 80)).astype(np.uint8 if bits == 8 else np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(seed):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (64, 80)).astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture()
def worklist(tmp_path):
    return Worklist(new_store(tmp_path / "store"))


def test_uploads_with_duplicates_and_bad_files(worklist, tmp_path):
    dicom = make_dicom(np.random.default_rng(9).integers(0, 4000, (64, 80)), spacing=(0.18, 0.18))
    files = [("patient_doe_jane.png", _png(1)), ("copy of it.png", _png(1)), ("sixteen.png", _png(2, bits=16)),
             ("film.jpg", _jpeg(3)), ("scan.dcm", dicom), ("notes.txt", b"not an x-ray"), ("empty.png", b""),
             ("flat.png", _flat())]
    report = import_sources(worklist, from_uploads(files), ANN, label="ward 3")
    assert report.added == [1, 2, 3, 4]
    assert report.duplicates == [("copy of it.png", 1)]
    assert [name for name, _ in report.failed] == ["notes.txt", "empty.png", "flat.png"]
    assert all(why for _, why in report.failed) and "empty" in report.failed[1][1]
    assert report.summary() == "4 new cases, 1 already in the worklist, 3 could not be read"
    cases = worklist.list_cases()
    assert [c.status for c in cases] == ["new"] * 4 and {c.label for c in cases} == {"ward 3"}
    assert cases[3].pixel_spacing_mm == (0.18, 0.18)
    assert AuditLog(worklist.database).entries(READER, action="cases_imported")[0].detail == \
        {"added": 4, "duplicates": 1, "failed": 3}
    # nothing that identifies a patient or a file is stored
    blob = b"".join(p.read_bytes() for p in worklist.store.iter_files())
    for secret in (b"doe_jane", b"copy of it", PATIENT_NAME.encode(), PATIENT_ID.encode(), b"scan.dcm"):
        assert secret not in blob


def _flat():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_zip_and_folder_import(worklist, tmp_path):
    folder = tmp_path / "films"
    (folder / "day2").mkdir(parents=True)
    (folder / "a.png").write_bytes(_png(11))
    (folder / "day2" / "b.png").write_bytes(_png(12))
    (folder / "day2" / "broken.png").write_bytes(_png(13)[:40])
    with zipfile.ZipFile(folder / "more.zip", "w") as zf:
        zf.writestr("c.png", _png(14))
        zf.writestr("a-again.png", _png(11))
        zf.writestr("sub/", b"")
    report = import_sources(worklist, from_paths([folder, tmp_path / "missing"]), ANN, how="command line")
    assert len(report.added) == 3 and [n.split("/")[-1] for n, _ in report.duplicates] == ["more.zip:a-again.png"]
    failed = [n.split("/")[-1] for n, _ in report.failed]
    assert failed == ["broken.png", "missing"]


def test_zip_bounds_and_not_a_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(ZIP_MAX_FILES + 1):
            zf.writestr(f"{i}.png", b"")
    with pytest.raises(LungSegError, match="more than"):
        list(from_zip(io.BytesIO(buf.getvalue())))
    with pytest.raises(LungSegError, match="not a zip"):
        list(from_zip(io.BytesIO(b"plain text")))


def test_importing_needs_a_role(worklist):
    with pytest.raises(PermissionDenied):
        import_sources(worklist, from_uploads([("a.png", _png(1))]), NOBODY)
