"""Pieces of the Worklist page: bulk import, the background segmentation panel and the case table."""
from __future__ import annotations

import base64
from pathlib import Path

import streamlit as st

from lungseg_app.auth import acting_user
from lungseg_app.plain_text import plain
from lungseg_app.store_access import cached_claims
from lungseg_core import LungSegError
from lungseg_core.workflow import batch_segmentation as batch
from lungseg_core.people.access_control import User
from lungseg_core.workflow.case_import import from_uploads, from_zip, import_sources, unreadable
from lungseg_core.imaging.image_io import UPLOAD_TYPES
from lungseg_core.workflow.worklist import Case, Worklist

TABLE_ROWS = 300  # rows drawn at once (thumbnails travel as data); filter or sort to reach the others


def import_panel(worklist: Worklist, user: User) -> None:
    """Many files or zips at once; the report lists duplicates and unreadable files by name (names are
    shown here only, never stored)."""
    round_ = st.session_state.setdefault("_wl_upload_round", 0)
    files = st.file_uploader("X-rays (PNG, JPEG, 16-bit PNG, DICOM) or zips of them", accept_multiple_files=True,
                             type=[*UPLOAD_TYPES, "zip"], key=f"_wl_upload_{round_}",
                             help="For thousands of files use the server: python -m lungseg_core import FOLDER")
    label = st.text_input("Label for these cases (optional, never a patient name)", key="_wl_label")
    if st.button("Import", key="_wl_import", disabled=not files, type="primary"):
        plain = [(f.name, f.getvalue()) for f in files if not f.name.lower().endswith(".zip")]
        zips = [f for f in files if f.name.lower().endswith(".zip")]

        def sources():  # type: ignore[no-untyped-def]
            yield from from_uploads(plain)
            for z in zips:
                try:
                    for name, read, size in from_zip(z):
                        yield f"{z.name}: {name}", read, size
                except LungSegError as exc:
                    yield z.name, unreadable(str(exc)), 0

        with st.spinner("Reading and storing the X-rays…"):
            report = import_sources(worklist, sources(), user, label or None, how="upload")
        st.session_state["_wl_report"] = report
        st.session_state["_wl_upload_round"] = round_ + 1  # a fresh uploader: a reload cannot import twice
        st.rerun()
    report = st.session_state.get("_wl_report")
    if report is not None:
        (st.success if not report.failed else st.warning)(f"Imported: {report.summary()}.")
        for name, warning in report.warnings:
            st.warning(f"{plain(name)}: {plain(warning)}")
        if report.duplicates or report.failed:
            st.dataframe([{"file": n, "result": f"already case {c}"} for n, c in report.duplicates]
                         + [{"file": n, "result": f"not imported: {why}"} for n, why in report.failed],
                         hide_index=True, width="stretch")


def segmentation_panel(store_address: str, user: User, pending: int) -> None:
    """Start / watch / cancel the background segmentation of new cases (survives reloads)."""

    was_running = batch.running_job(store_address) is not None

    @st.fragment(run_every=2.0 if was_running else None)
    def panel() -> None:
        running = batch.running_job(store_address)
        if running is None and was_running:
            st.rerun(scope="app")  # the job just ended: refresh the counts and the table
        last = batch.latest()
        if running is not None:
            progress = batch.read_progress(Path(running["dir"])) or {}
            done, total = int(progress.get("done", 0)), int(progress.get("total", 0))
            st.progress(done / total if total else 0.0,
                        text=f"Segmenting: {done} of {total or '…'} cases ({progress.get('per_second', 0):.1f}/s), "
                             f"started by {plain(running.get('started_by', '?'))}")
            if st.button("Cancel segmentation", key="_wl_cancel", help="Cases already done keep their masks"):
                actor = acting_user()  # this fragment outlives the run that drew it: who is acting now?
                try:
                    batch.cancel(actor, store_address)
                except LungSegError as exc:
                    st.error(f"Not cancelled: {plain(exc)}")
                else:
                    st.rerun()
            return
        if last is not None and last.get("message"):
            st.caption(f"Last batch segmentation: {last['message']}")
        if pending and st.button(f"Segment {pending} new case{'s' * (pending != 1)} in the background",
                                 key="_wl_segment",
                                 help="With the current default model; masks, quality estimate and flags are stored"):
            try:
                batch.start_job(store_address, acting_user())
            except LungSegError as exc:
                st.error(f"Not started: {plain(exc)}")
            else:
                st.rerun(scope="app")

    panel()


def claims_panel(worklist: Worklist, user: User) -> None:
    """Admins: who holds which case now, with a release button (someone went home mid-case)."""
    claims = cached_claims().live()
    if not claims:
        return
    numbers = {c.image_hash: c.number for c in worklist.list_cases()}
    with st.expander(f"Claims held now ({len(claims)})"):
        for claim in claims:
            c1, c2 = st.columns([4, 1])
            c1.write(f"Case {numbers.get(claim.image_hash, '?')}: {plain(claim.username)}, until "
                     f"{claim.expires_at[11:16]} UTC")
            if c2.button("Release", key=f"_wl_release_{claim.image_hash[:16]}"):
                actor = acting_user()
                try:
                    cached_claims().release(actor, claim.image_hash)  # type: ignore[arg-type]
                except LungSegError as exc:
                    st.error(f"Not released: {plain(exc)}")
                else:
                    st.rerun()


def _thumb_url(worklist: Worklist, case: Case) -> str | None:
    if not case.thumb_hash:
        return None
    try:
        data = worklist.store.get_blob(case.thumb_hash)
    except (OSError, LungSegError):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


def case_table(worklist: Worklist, cases: list[Case]) -> int | None:
    """The table (first TABLE_ROWS rows); returns the selected case number."""
    rows = []
    for c in cases[:TABLE_ROWS]:
        figures = c.quality.get("figures", {})
        rows.append({"preview": _thumb_url(worklist, c), "case": c.number, "label": c.label or "",
                     "status": c.status, "assigned to": c.assigned_to or "", "editing": c.holder or "",
                     "last by": c.latest_author or "",
                     "est. Dice": c.estimated_dice, "flags": "; ".join(c.flags),
                     "right lung px": figures.get("right_area_px"), "left lung px": figures.get("left_area_px"),
                     "R/L": figures.get("right_left_ratio"), "last change": c.updated_at[:16].replace("T", " "),
                     "link": f"Correct?case={c.number}"})
    if len(cases) > TABLE_ROWS:
        st.caption(f"Showing the first {TABLE_ROWS}; filter or sort to see the others.")
    event = st.dataframe(
        rows, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key="_wl_table",
        placeholder="–",  # not segmented yet: a dash, not "None"
        column_config={
            "preview": st.column_config.ImageColumn("preview", width="small"),
            "status": st.column_config.TextColumn("status", width="small"),
            "est. Dice": st.column_config.NumberColumn("est. Dice", format="%.3f",
                                                       help="Estimated Dice without a reference mask"),
            "R/L": st.column_config.NumberColumn("R/L", format="%.2f", help="Right / left lung area"),
            "link": st.column_config.LinkColumn("link", display_text="open",
                                                help="A link to this case for a colleague"),
        })
    selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
    return rows[selected[0]]["case"] if selected else None
