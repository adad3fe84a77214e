"""Films from a real PACS (Orthanc + its DICOMweb plugin, started here), masks back to it as DICOM SEG
and SR: query and import, segment, correct, approve, send, fetch back, validate with dciodvfy; no
patient name anywhere in the store; and every kind of bad input refused with the store unchanged."""
from __future__ import annotations

import http.server
import shutil
import socketserver
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lungseg_core import DEFAULT_MODEL, load_model
from lungseg_core.errors import MaskError
from lungseg_core.imaging.case_report import load_ground_truth
from lungseg_core.models.samples import list_samples
from lungseg_core.pacs.connection import PacsError, PacsSettings, client, settings_from
from lungseg_core.pacs.pacs_export import CaseExport, export_case, reference_from_pacs
from lungseg_core.pacs.pacs_import import import_images
from lungseg_core.pacs.query import PacsImage, find_chest_images
from lungseg_core.pacs.sources import PacsSources
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.batch_segmentation import segment_cases
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.workflow.worklist import Worklist
from lungseg_testing.browser import free_port
from lungseg_testing.orthanc import PASSWORD, USER, orthanc_available, orthanc_server

from .people import ADMIN, ANN, REV

pytestmark = pytest.mark.skipif(not orthanc_available(), reason="Orthanc is installed by tools/run_tests.sh")
NAMES = ["Doe^Jane", "Roe^Richard", "Poe^Edgar", "Moe^Mary", "Zoe^Zed"]
DX, CR = "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1"


def _radiograph(pixels: np.ndarray, name: str, modality: str, monochrome1: bool = False, frames: int = 1) -> Dataset:
    """A chest radiograph as a modality would send it: names, IDs, dates, UIDs, 12-bit pixels."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX if modality == "DX" else CR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128  # a Part 10 file, as a modality sends it
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, f"ID-{name[:3]}", "19600101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20261120", "101500", "1", "ACC1"
    ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", 1, 1
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition, ds.PatientOrientation = modality, "CHEST", "PA", ["L", "F"]
    arr = np.asarray(pixels, np.uint16) * 16
    if monochrome1:
        arr = 4095 - arr
    if frames > 1:
        arr = np.stack([arr] * frames)
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = arr.shape[-2:]
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.ImagerPixelSpacing = ["0.3", "0.3"]
    ds.PixelData = arr.tobytes()
    return ds


def _films() -> list[np.ndarray]:
    images = [np.asarray(Image.open(s.image_path).convert("L")) for s in list_samples()]
    return (images + [np.ascontiguousarray(images[0][:, ::-1])])[:5]


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """A running Orthanc holding 5 chest radiographs (DX and CR, one MONOCHROME1), a multi-frame DX and
    a non-image (an SR); yields (settings, the 5 films' datasets, the multi-frame one, the SR)."""
    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as url:
        settings = PacsSettings(url, USER, PASSWORD, timeout_s=30)
        films = [_radiograph(p, n, "DX" if i % 2 == 0 else "CR", monochrome1=(i == 1))
                 for i, (p, n) in enumerate(zip(_films(), NAMES))]
        multi = _radiograph(_films()[0], "Multi^Frame", "DX", frames=3)
        report = _radiograph(_films()[0], "Not^Image", "DX")
        report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
        report.Modality = "SR"
        del report.PixelData
        client(settings).store_instances(films + [multi, report])
        yield settings, films, multi, report


def _pacs_image(ds: Dataset) -> PacsImage:
    return PacsImage(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, str(ds.Modality), ds.StudyDate,
                     "PA", "CHEST", ds.Rows, ds.Columns, int(ds.get("NumberOfFrames", 1)))


def _dciodvfy_errors(ds: Dataset, folder: Path) -> list[str]:
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    path.write_bytes(CaseExport.file_bytes(ds))
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def test_round_trip_query_import_segment_correct_approve_send_and_fetch_back(pacs, tmp_path):
    settings, films, multi, _ = pacs
    store = SQLiteCorrectionsStore(tmp_path / "store")
    worklist = Worklist(store)
    found = find_chest_images(settings)
    assert {f.sop_uid for f in found} == {d.SOPInstanceUID for d in films} | {multi.SOPInstanceUID}
    assert all("Doe" not in str(f.as_row()) for f in found)  # the list shows no patient identifiers
    assert {f.modality for f in found} == {"CR", "DX"} and len(find_chest_images(settings, view="AP")) == 0

    report = import_images(worklist, settings, found, ANN, label="from PACS")
    assert len(report.added) == 5 and not report.duplicates
    assert report.refused and "multi-frame" in report.refused[0][1]
    again = import_images(worklist, settings, [f for f in found if f.frames == 1], ANN)
    assert sorted(again.duplicates) == sorted(report.added) and not again.added  # the same film is one case
    sources = PacsSources(store.database)
    by_sop = {sources.of(worklist.get(n).image_hash).sop_uid: n for n in report.added}
    assert set(by_sop) == {d.SOPInstanceUID for d in films}
    mono1 = worklist.get(by_sop[films[1].SOPInstanceUID])
    plain_film = store.load_image(worklist.get(by_sop[films[0].SOPInstanceUID]).image_hash)
    assert mono1.pixel_spacing_mm == (0.3, 0.3)  # Imager Pixel Spacing, as the reader reads it
    assert np.corrcoef(store.load_image(mono1.image_hash).ravel(), plain_film.ravel())[0, 1] < 0.99  # another film

    summary = segment_cases(worklist, load_model(DEFAULT_MODEL), ADMIN)
    assert summary["done"] == 5
    number = by_sop[films[0].SOPInstanceUID]
    case = worklist.get(number)
    image, drawn = store.load_image(case.image_hash), store.load_mask(case.mask_hash)
    corrected = drawn.copy()
    corrected[300:330, :] = False  # the annotator erased a band
    record = store.save_correction(image, drawn, corrected, actor=ANN, model_name=DEFAULT_MODEL, model_version="v",
                                   status="submitted")
    with pytest.raises(Exception, match="approved"):
        export_case(worklist, settings, number, REV)  # not yet approved: nothing goes back
    store.review(record.id, "approve", actor=REV)

    sent = export_case(worklist, settings, number, REV)
    dicomweb = client(settings)
    stored_segs = dicomweb.search_for_instances(study_instance_uid=films[0].StudyInstanceUID,
                                                search_filters={"Modality": "SEG"})
    assert len(stored_segs) == 1
    seg = dicomweb.retrieve_instance(films[0].StudyInstanceUID, sent.seg.SeriesInstanceUID, sent.seg.SOPInstanceUID)
    srs = dicomweb.search_for_instances(study_instance_uid=films[0].StudyInstanceUID, search_filters={"Modality": "SR"})
    assert len(srs) == 1
    frames = seg.pixel_array
    assert frames.shape[0] == 2 and np.array_equal(frames.astype(bool).any(axis=0), corrected)  # exactly the approved mask
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Right lung", "Left lung"]
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence] == ["3341006", "44029006"]
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == \
        films[0].SOPInstanceUID and seg.StudyInstanceUID == films[0].StudyInstanceUID
    assert seg.PatientName == films[0].PatientName  # copied from the PACS at export time ...
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert DEFAULT_MODEL in seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion
    assert _dciodvfy_errors(sent.seg, tmp_path) == [] and _dciodvfy_errors(sent.sr, tmp_path) == []
    ref = load_ground_truth(CaseExport.file_bytes(seg), image.shape, films[0].SOPInstanceUID)
    assert np.array_equal(ref.mask, corrected)  # a SEG is a reference mask on Segment too ...
    from_pacs = reference_from_pacs(worklist, settings, case.image_hash)  # ... and a case's can come from the PACS
    assert np.array_equal(load_ground_truth(from_pacs, image.shape, films[0].SOPInstanceUID).mask, corrected)
    assert reference_from_pacs(worklist, settings, worklist.get(by_sop[films[1].SOPInstanceUID]).image_hash) is None
    assert str(seg.ContentCreatorName) == f"{REV.username}^" and "manual correction" in seg.ContentDescription
    measured = {item.ConceptNameCodeSequence[0].CodeMeaning: float(item.MeasuredValueSequence[0].NumericValue)
                for group in sent.sr.ContentSequence for item in group.get("ContentSequence", [])
                for item in ([item] + list(item.get("ContentSequence", []))) if "MeasuredValueSequence" in item}
    labels = __import__("lungseg_core.imaging.lung_measurements", fromlist=["x"]).split_lungs(corrected)
    assert measured["Right to left lung area ratio"] == pytest.approx((labels == 1).sum() / (labels == 2).sum(), abs=1e-3)
    assert measured["Area"] > 0 and measured["Height"] > 0
    assert AuditLog(store.database).entries(ADMIN, action="pacs_exported")[0].target == f"case {number}"

    names = [n.encode() for n in NAMES] + [films[0].PatientID.encode()]
    for path in store.iter_files():  # ... and never kept here
        data = path.read_bytes()
        assert not any(n in data for n in names), path
    store.delete_case(case.image_hash, ADMIN, "test")
    assert sources.of(case.image_hash) is None  # the source row goes with the case


def test_a_seg_of_another_image_is_refused_as_a_reference(pacs, tmp_path):
    settings, films, _, _ = pacs
    from lungseg_core.pacs.dicom_export import segmentation_of

    mask = np.zeros((films[2].Rows, films[2].Columns), bool)
    mask[100:400, 60:220] = mask[100:400, 290:450] = True
    data = CaseExport.file_bytes(segmentation_of(films[2], mask, "m v"))
    assert load_ground_truth(data, mask.shape, films[2].SOPInstanceUID).mask.sum() == mask.sum()
    with pytest.raises(MaskError, match="another image"):
        load_ground_truth(data, mask.shape, films[3].SOPInstanceUID)
    with pytest.raises(MaskError, match="another image"):
        load_ground_truth(data, (256, 256))


def test_a_non_image_or_multi_frame_object_is_refused_and_the_store_stays_as_it_was(pacs, tmp_path):
    settings, _, multi, report = pacs
    store = SQLiteCorrectionsStore(tmp_path / "store")
    worklist = Worklist(store)
    result = import_images(worklist, settings, [_pacs_image(report), _pacs_image(multi)], ANN)
    assert not result.added and [why for _, why in result.refused][0].startswith("not an image")
    assert "multi-frame" in result.refused[1][1]
    assert worklist.list_cases() == [] and PacsSources(store.database).known_sop_uids() == set()


class _Answer(http.server.BaseHTTPRequestHandler):
    delay, status = 0.0, 403

    def do_GET(self):  # noqa: N802
        time.sleep(self.delay)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def _local_server(delay: float, status: int):
    handler = type("H", (_Answer,), {"delay": delay, "status": status})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_pacs_that_is_down_slow_or_refuses_gives_a_clear_message(pacs, tmp_path):
    settings, _, _, _ = pacs
    store = SQLiteCorrectionsStore(tmp_path / "store")
    import socket

    closed = socket.socket()  # bound, never listening: the port stays ours (no later test server takes it) and
    closed.bind(("127.0.0.1", 0))  # every connection to it is refused, as to a PACS that is down
    down = PacsSettings(f"http://127.0.0.1:{closed.getsockname()[1]}/dicom-web", timeout_s=5)
    with pytest.raises(PacsError, match="cannot be reached"):
        find_chest_images(down)
    with pytest.raises(PacsError, match=r"refused the user name or password \(401\)"):
        find_chest_images(PacsSettings(settings.url, USER, "wrong", timeout_s=10))
    slow, forbidden = _local_server(3.0, 200), _local_server(0.0, 403)
    try:
        with pytest.raises(PacsError, match="did not answer within"):
            find_chest_images(PacsSettings(f"http://127.0.0.1:{slow.server_address[1]}/dicom-web", timeout_s=0.5))
        with pytest.raises(PacsError, match=r"\(403\)"):
            find_chest_images(PacsSettings(f"http://127.0.0.1:{forbidden.server_address[1]}/dicom-web"))
    finally:
        slow.shutdown()
        forbidden.shutdown()
    report = import_images(Worklist(store), down, [PacsImage("1", "2", "3", "DX", "", "PA", "CHEST", 1, 1, 1)], ANN)
    assert not report.added and "cannot be reached" in report.refused[0][1]
    assert Worklist(store).list_cases() == []
    closed.close()


def test_settings_come_from_the_secrets_or_the_environment_never_the_repo():
    assert settings_from({}, {}) is None
    from_secrets = settings_from({"pacs": {"url": "https://pacs/dicom-web/", "username": "u", "password": "p"}}, {})
    assert from_secrets.address == "https://pacs/dicom-web" and from_secrets.username == "u"
    from_env = settings_from({}, {"LUNGSEG_PACS_URL": "http://x/dicom-web", "LUNGSEG_PACS_TIMEOUT_S": "7"})
    assert from_env.timeout_s == 7.0 and from_env.password is None
    assert not list(Path(__file__).resolve().parent.parent.glob(".streamlit/secrets.toml"))
    assert shutil.which("dciodvfy"), "dicom3tools is installed by tools/run_tests.sh"


def _approve_first_case(store_dir: Path) -> int:
    store = SQLiteCorrectionsStore(store_dir)
    worklist = Worklist(store)
    case = worklist.list_cases()[0]
    image = store.load_image(case.image_hash)
    mask = np.zeros(image.shape, bool)
    mask[100:400, 60:220] = mask[100:400, 290:450] = True
    record = store.save_correction(image, mask, mask, actor=ANN, model_name=DEFAULT_MODEL, model_version="v",
                                   status="submitted")
    store.review(record.id, "approve", actor=REV)
    return case.number


def test_command_line_imports_and_exports_and_says_clearly_when_the_pacs_is_down(pacs, tmp_path):
    import os
    import sys

    settings, _, _, _ = pacs
    env = {**os.environ, "LUNGSEG_PACS_USER": USER, "LUNGSEG_PACS_PASSWORD": PASSWORD, "HF_HUB_OFFLINE": "1"}
    store_dir = tmp_path / "store"
    root = Path(__file__).resolve().parent.parent

    def cli(*args):  # type: ignore[no-untyped-def]
        return subprocess.run([sys.executable, "-m", "lungseg_core", *args, "--store", str(store_dir)],
                              capture_output=True, text=True, env=env, cwd=root, timeout=300)

    imported = cli("pacs-import", "--url", settings.url)
    assert imported.returncode == 0, imported.stderr
    assert "5 new case(s) from the PACS" in imported.stdout and "refused a multi-frame" not in imported.stdout
    number = _approve_first_case(store_dir)
    written = cli("pacs-export", str(number), "--url", settings.url, "--out", str(tmp_path / "out"), "--no-send")
    assert written.returncode == 0, written.stderr
    for name in ("seg", "sr"):
        ds = pydicom.dcmread(tmp_path / "out" / f"case{number}_{name}.dcm")
        assert _dciodvfy_errors(ds, tmp_path) == []
    down = cli("pacs-import", "--url", f"http://127.0.0.1:{free_port()}/dicom-web", "--timeout", "5")
    assert down.returncode != 0 and "cannot be reached" in down.stderr and "Traceback" not in down.stderr


def test_worklist_panel_searches_the_pacs_and_imports_what_is_ticked(pacs, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from .signed_in import sign_in_as

    settings, films, _, _ = pacs
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    store = SQLiteCorrectionsStore(tmp_path / "store")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "0_Worklist.py"), default_timeout=120)
    at.secrets["pacs"] = {"url": settings.url, "username": USER, "password": PASSWORD}
    sign_in_as(at, store, ANN)
    at.run()
    at.date_input(key="_pacs_from").set_value(__import__("datetime").date(2026, 11, 1))
    at.button(key="_pacs_search").click().run()
    assert not at.exception
    table = at.get("arrow_data_frame") or at.dataframe
    assert len(Worklist(store).list_cases()) == 0
    at.button(key="_pacs_import").click().run()
    assert not at.exception
    assert any("new case(s) from the PACS" in s.value for s in at.success)
    assert {PacsSources(store.database).of(c.image_hash).sop_uid for c in Worklist(store).list_cases()} >= \
        {d.SOPInstanceUID for d in films}
    assert any("3 frames" in w.value for w in at.warning) and table is not None


def test_who_may_import_and_send_back_is_checked_in_the_library(pacs, tmp_path):
    from lungseg_core.people.access_control import PermissionDenied

    from .people import NOBODY

    settings, films, _, _ = pacs
    store = SQLiteCorrectionsStore(tmp_path / "store")
    worklist = Worklist(store)
    with pytest.raises(PermissionDenied):
        import_images(worklist, settings, [_pacs_image(films[0])], NOBODY)  # no role: nothing fetched or kept
    assert worklist.list_cases() == []
    import_images(worklist, settings, [_pacs_image(films[0])], ANN)
    number = _approve_first_case(tmp_path / "store")
    with pytest.raises(PermissionDenied):
        export_case(worklist, settings, number, ANN)  # annotators do not send to the PACS: reviewers do
    assert AuditLog(store.database).entries(ADMIN, action="pacs_exported") == []
