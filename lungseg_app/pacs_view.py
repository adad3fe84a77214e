"""The PACS on the pages: a panel on the Worklist that searches the PACS and imports the chosen
radiographs, and, on Review, the approved case's DICOM SEG + SR to download or send back.
The work is in `lungseg_core.pacs`; the PACS's address and account come from `[pacs]` in
.streamlit/secrets.toml (or $LUNGSEG_PACS_URL, _USER, _PASSWORD)."""
from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from lungseg_app.plain_text import plain
from lungseg_core import LungSegError
from lungseg_core.pacs.connection import PacsSettings, settings_from
from lungseg_core.pacs.pacs_export import CaseExport, export_case, reference_from_pacs
from lungseg_core.pacs.pacs_import import import_images
from lungseg_core.pacs.query import find_chest_images
from lungseg_core.pacs.sources import PacsSources
from lungseg_core.people.access_control import User
from lungseg_core.workflow.worklist import Worklist

FOUND_KEY = "_pacs_found"
VIEWS = ["any view", "PA", "AP", "LL", "RL"]


def pacs_settings() -> PacsSettings | None:
    try:
        secrets = {"pacs": dict(st.secrets["pacs"])} if "pacs" in st.secrets else {}
    except Exception:  # no secrets file at all
        secrets = {}
    return settings_from(secrets)


def pacs_panel(worklist: Worklist, user: User) -> None:
    """Search the PACS (chest CR/DX, dates, view) and import the chosen radiographs as cases."""
    settings = pacs_settings()
    if settings is None:
        st.caption("No PACS is set up: an admin adds `[pacs] url = \"https://…/dicom-web\"` (and username, password) "
                   "to .streamlit/secrets.toml.")
        return
    st.caption(f"PACS: {plain(settings.address)} · chest CR and DX images; only the study, series and image UIDs "
               "are kept with a case, never a name, ID or date.")
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
    first = c1.date_input("Studies from", value=date.today() - timedelta(days=7), key="_pacs_from")
    last = c2.date_input("to", value=date.today(), key="_pacs_to")
    view = c3.selectbox("View", VIEWS, key="_pacs_view")
    if c4.button("Search the PACS", key="_pacs_search"):
        try:
            st.session_state[FOUND_KEY] = find_chest_images(settings, first, last,
                                                            None if view == VIEWS[0] else view)
        except LungSegError as exc:
            st.session_state.pop(FOUND_KEY, None)
            st.error(str(exc))
    found = st.session_state.get(FOUND_KEY)
    if found is None:
        return
    if not found:
        st.info("The PACS has no chest radiographs for these dates.")
        return
    known = PacsSources(worklist.database).known_sop_uids()
    rows = [{"import": f.sop_uid not in known, **f.as_row(),
             "in the worklist": "yes" if f.sop_uid in known else ""} for f in found]
    edited = st.data_editor(rows, hide_index=True, key="_pacs_table", disabled=[k for k in rows[0] if k != "import"],
                            column_config={"import": st.column_config.CheckboxColumn("import")})
    chosen = [f for f, row in zip(found, edited) if row["import"]]
    if st.button(f"Import {len(chosen)} radiograph(s)", key="_pacs_import", type="primary", disabled=not chosen):
        with st.spinner(f"Fetching {len(chosen)} image(s) from the PACS…"):
            report = import_images(worklist, settings, chosen, user)
        st.success(report.summary())
        for what, why in report.refused:
            st.warning(f"{plain(what)}: {plain(why)}")


def review_pacs_actions(worklist: Worklist, number: int | None, user: User) -> None:
    """For an approved case that came from the PACS: its DICOM SEG + SR to download, or sent to the PACS."""
    settings = pacs_settings()
    if settings is None or number is None or not user.can("export"):
        return
    case = worklist.get(number)
    if PacsSources(worklist.database).of(case.image_hash) is None:
        return
    st.markdown("**PACS**")
    c1, c2 = st.columns(2)
    key = f"_pacs_files_{number}"
    if c1.button("Send SEG + SR to the PACS", key=f"_pacs_send_{number}",
                 help="The approved mask as a DICOM Segmentation and its measurements as a DICOM SR (audited)"):
        try:
            result = export_case(worklist, settings, number, user, send=True)
            st.session_state[key] = result
            st.toast(f"Sent the segmentation of case {number} to the PACS", icon="✅")
        except LungSegError as exc:
            st.error(f"Not sent: {exc}")
    if c2.button("Prepare DICOM files", key=f"_pacs_prepare_{number}"):
        try:
            st.session_state[key] = export_case(worklist, settings, number, user, send=False)
        except LungSegError as exc:
            st.error(f"Not prepared: {exc}")
    result: CaseExport | None = st.session_state.get(key)
    if result is not None:
        d1, d2 = st.columns(2)
        d1.download_button("DICOM SEG", CaseExport.file_bytes(result.seg), file_name=f"case{number}_seg.dcm",
                           mime="application/dicom", on_click="ignore", key=f"_pacs_seg_{number}")
        d2.download_button("DICOM SR", CaseExport.file_bytes(result.sr), file_name=f"case{number}_sr.dcm",
                           mime="application/dicom", on_click="ignore", key=f"_pacs_sr_{number}")


def pacs_reference(worklist: Worklist, image_hash: str, attach) -> None:  # type: ignore[no-untyped-def]
    """Segment: for an X-ray from the PACS, its newest SEG there as the reference mask (`attach(bytes)`)."""
    settings = pacs_settings()
    if settings is None or PacsSources(worklist.database).of(image_hash) is None:
        return
    if st.button("Reference from the PACS", key="_pacs_reference",
                 help="The newest DICOM SEG the PACS holds for this image"):
        try:
            data = reference_from_pacs(worklist, settings, image_hash)
            if data is None:
                st.info("The PACS holds no segmentation of this image.")
            else:
                attach(data)
        except LungSegError as exc:
            st.error(str(exc))
