"""How the app reaches a PACS (DICOMweb over HTTP), and what a person is told when it cannot.

Settings come from `.streamlit/secrets.toml` (`[pacs] url, username, password, timeout_s`) or the
environment (`LUNGSEG_PACS_URL`, `LUNGSEG_PACS_USER`, `LUNGSEG_PACS_PASSWORD`), never from the repo.
Every request has a time limit (`timeout_s`); dicomweb-client's retries are off (a PACS that is down says so at
once instead of after minutes). Each failure becomes one `PacsError` with words a person can act on.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import requests
from dicomweb_client.api import DICOMwebClient

from ..errors import LungSegError

DEFAULT_TIMEOUT_S = 20.0


class PacsError(LungSegError):
    """The PACS could not be reached, refused, or answered with something that is not what was asked."""


@dataclass(frozen=True)
class PacsSettings:
    url: str  # the DICOMweb root, e.g. https://pacs.hospital/dicom-web
    username: str | None = None
    password: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def address(self) -> str:
        """The URL as shown and kept (no credentials in it)."""
        return self.url.rstrip("/")


def settings_from(secrets: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> PacsSettings | None:
    """The `[pacs]` table of the app's secrets, else the environment; None when neither names a URL."""
    table = dict((secrets or {}).get("pacs") or {})
    env = os.environ if env is None else env
    url = table.get("url") or env.get("LUNGSEG_PACS_URL")
    if not url:
        return None
    return PacsSettings(url=str(url), username=table.get("username") or env.get("LUNGSEG_PACS_USER"),
                        password=table.get("password") or env.get("LUNGSEG_PACS_PASSWORD"),
                        timeout_s=float(table.get("timeout_s") or env.get("LUNGSEG_PACS_TIMEOUT_S")
                                        or DEFAULT_TIMEOUT_S))


def client(settings: PacsSettings) -> DICOMwebClient:
    session = requests.Session()
    if settings.username:
        session.auth = (settings.username, settings.password or "")
    dicomweb = DICOMwebClient(url=settings.address, session=session, timeout=settings.timeout_s)
    dicomweb.set_http_retry_params(retry=False)
    return dicomweb


@contextlib.contextmanager
def talking_to(settings: PacsSettings, doing: str) -> Iterator[None]:
    """Turn what the network or the PACS says into one PacsError naming the PACS and what was being done."""
    where = settings.address
    try:
        yield
    except PacsError:
        raise
    except requests.exceptions.Timeout as exc:
        raise PacsError(f"The PACS at {where} did not answer within {settings.timeout_s:.0f} s while {doing}; "
                        "try again, or ask IT whether it is overloaded.") from exc
    except requests.exceptions.ConnectionError as exc:
        raise PacsError(f"The PACS at {where} cannot be reached while {doing}: is it running, and is the "
                        "address right?") from exc
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            raise PacsError(f"The PACS at {where} refused the user name or password (401) while {doing}.") from exc
        if status == 403:
            raise PacsError(f"The PACS at {where} does not allow this account to do that (403) while {doing}.") from exc
        if status == 404:
            raise PacsError(f"The PACS at {where} does not have what was asked for (404) while {doing}.") from exc
        raise PacsError(f"The PACS at {where} answered with an error ({status}) while {doing}.") from exc
    except requests.exceptions.RequestException as exc:
        raise PacsError(f"Talking to the PACS at {where} failed while {doing} ({type(exc).__name__}).") from exc
    except ValueError as exc:  # a body that is not DICOM / JSON
        raise PacsError(f"The PACS at {where} answered with something that is not DICOM while {doing} "
                        f"({exc}).") from exc
