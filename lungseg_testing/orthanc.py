"""A real Orthanc PACS with its DICOMweb plugin (Debian's `orthanc`, `orthanc-dicomweb`) for tests:
started on free loopback ports with its own storage folder and a user, stopped afterwards."""
from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from .browser import free_port

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "lungseg", "pacs-test-password"


def orthanc_available() -> bool:
    return Path(ORTHANC).is_file() and Path(DICOMWEB_PLUGIN).is_file()


@contextlib.contextmanager
def orthanc_server(folder: Path, timeout: float = 60.0) -> Iterator[str]:
    """Yield the DICOMweb root URL (http://127.0.0.1:PORT/dicom-web) of a fresh Orthanc."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {"Name": "LungSegTestPACS", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
              "Plugins": [DICOMWEB_PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "w")
    proc = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, url, USER, PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                opener.open(f"{url}/system", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Orthanc did not start in time")
                time.sleep(0.3)
        yield f"{url}/dicom-web"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
