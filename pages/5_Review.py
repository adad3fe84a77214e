"""Review: saved corrections, filtered; one case's original vs corrected mask, its versions;
approve, reject or reopen with a note (reviewers, never their own work); delete a case (admins);
export approved cases for training (zip) or as COCO JSON."""
from __future__ import annotations

import streamlit as st

from lungseg_app.auth import acting_user_later
from lungseg_app.pacs_view import review_pacs_actions
from lungseg_app.plain_text import plain
from lungseg_app.case_navigation import cached_worklist, case_from_link, nav_bar
from lungseg_app.state import cached_store, current_case, sidebar
from lungseg_core import LungSegError
from lungseg_core.workflow.corrections_export import export_coco_json, export_training_zip
from lungseg_core.workflow.corrections_store import STATUSES
from lungseg_core.imaging.mask_editing import edit_figures
from lungseg_core.imaging.overlay import LEGEND, change_map, change_zoom, mask_overlay

st.set_page_config(page_title="Review · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Review corrections")
review_done = st.session_state.pop("_review_done", None)
if review_done:
    st.toast(plain(review_done), icon="✅")  # said where it is seen, wherever the page is scrolled
store = cached_store()
case_from_link()
if user.can("approve"):
    nav_bar(user, review=True)
focus = current_case()
focus_case = None
if focus is not None and focus.number is not None:
    try:
        focus_case = cached_worklist().get(focus.number)
    except LungSegError:
        focus_case = None

everything = store.list_corrections()
f1, f2, f3 = st.columns(3)
status = f1.selectbox("Status", ["any", *STATUSES], key="_f_status")
who = f2.selectbox("Annotator", ["any", *sorted({r.annotator for r in everything})], key="_f_annotator")
model = f3.selectbox("Model", ["any", *sorted({r.model_name for r in everything})], key="_f_model")
records = store.list_corrections(status=None if status == "any" else status, annotator=None if who == "any" else who,
                                 model_name=None if model == "any" else model)
if not records:
    st.info("No saved corrections match. Save one on the Correct page.")
else:
    numbers = {c.image_hash: c.number for c in cached_worklist().list_cases()}
    version_of: dict[str, int] = {}  # each record's place in its X-ray's history (1 = first save)
    for image_hash in {r.image_hash for r in everything}:
        for i, r in enumerate(sorted((r for r in everything if r.image_hash == image_hash),
                                     key=lambda r: r.created_at), start=1):
            version_of[r.id] = i
    st.dataframe([{"case": numbers.get(r.image_hash), "version": version_of.get(r.id), "id": r.id[:8],
                   "saved": r.created_at[:19].replace("T", " "), "annotator": r.annotator, "model": r.model_name,
                   "status": r.status, "label": r.case_label or "", "note": r.note} for r in records],
                 hide_index=True, column_config={"note": st.column_config.TextColumn("note", width="large")})

    thumbs = records[:8]
    cols = st.columns(8)
    for col, r in zip(cols, thumbs):
        try:
            thumb = mask_overlay(store.load_image(r.image_hash), store.load_mask(r.corrected_mask_hash), opacity=0.35)
        except LungSegError as exc:
            col.warning(f"{r.id[:8]}: {exc}")
            continue
        col.image(thumb, width="stretch", caption=f"{r.id[:8]} · {r.status}")

    cases_by_image = {c.image_hash: c for c in cached_worklist().list_cases()}

    def _title(r) -> str:  # type: ignore[no-untyped-def]
        case = cases_by_image.get(r.image_hash)
        return (case.title if case else (r.case_label or "X-ray")) + f" · {r.id[:8]} · {r.annotator} · {r.status}"

    by_label = {_title(r): r for r in records}
    labels = list(by_label)
    start = next((i for i, r in enumerate(records)
                  if focus_case is not None and r.id == focus_case.latest_version_id), 0)
    chosen = by_label[st.selectbox("Case", labels, index=start,
                                   key=f"_f_case_{focus_case.number if focus_case else 'any'}")]
    shown_case = cases_by_image.get(chosen.image_hash)
    st.markdown(f"### {plain(shown_case.title if shown_case else (chosen.case_label or 'X-ray'))}"
                + (f" · label: {plain(chosen.case_label)}" if chosen.case_label and shown_case and
                   chosen.case_label not in shown_case.title else ""))
    try:
        image = store.load_image(chosen.image_hash)
        original = store.load_mask(chosen.original_mask_hash)
        corrected = store.load_mask(chosen.corrected_mask_hash)
    except LungSegError as exc:
        st.error(f"This record is flagged: {exc}. The other records, exports and retraining are not affected; "
                 "an admin can delete the case below.")
        image = original = corrected = None
    if image is not None:
        change = edit_figures(original, corrected)
        a, b, c = st.columns(3)
        a.image(mask_overlay(image, original, opacity=0.35), caption=f"Model mask ({chosen.model_name})",
                width="stretch")
        b.image(mask_overlay(image, corrected, opacity=0.35), caption=f"Corrected by {plain(chosen.annotator)}",
                width="stretch")
        c.image(change_map(image, original, corrected), width="stretch",
                caption=f"Changes: green added ({change.added_px:,} px), red removed ({change.removed_px:,} px)")
        st.caption(LEGEND)
        zoom = change_zoom(image, original, corrected)
        if zoom is not None:
            with st.expander("Zoom on the changes", expanded=change.added_px + change.removed_px < 0.02 * image.size):
                st.image(zoom, width="stretch", caption="The changed region, enlarged (nearest pixels: each square "
                                                        "is one pixel of the X-ray when zoomed far in)")
        st.metric("Changed pixels", f"{change.added_px + change.removed_px:,}")
        st.caption(f"IoU between model and corrected mask: {change.iou_with_model:.3f} (overlap ÷ union; 1 = "
                   "the annotator changed nothing)")

    st.markdown("**Versions of this case**")
    st.dataframe([{"version": i + 1, "id": v.id[:8], "saved": v.created_at[:19].replace("T", " "),
                   "annotator": v.annotator, "status": v.status, "note": v.note}
                  for i, v in enumerate(store.history(chosen.id))], hide_index=True)
    st.markdown("**Status log**")
    st.dataframe([{"status": s.status, "by": s.reviewer, "when": s.changed_at[:19].replace("T", " "), "note": s.note}
                  for s in store.status_changes(chosen.id)], hide_index=True)

    superseded = any(r.parent_id == chosen.id for r in everything)
    if chosen.status == "approved" and not superseded and shown_case is not None:
        review_pacs_actions(cached_worklist(), shown_case.number, user)
    actions = [(label, action) for label, action, source in (("Approve", "approve", "submitted"),
                                                             ("Reject", "reject", "submitted"),
                                                             ("Reopen", "reopen", "approved"))
               if chosen.status == source]
    if superseded:
        st.caption("A newer version of this case exists: review that one.")
    elif not user.can("approve"):
        st.caption("Reviewing needs the reviewer role.")
    elif chosen.annotator == user.username and chosen.status == "submitted":
        st.caption("This is your own correction: another reviewer must approve or reject it.")
    elif actions:
        unchanged = image is not None and change.added_px + change.removed_px == 0
        confirmed = True
        if unchanged and chosen.status == "submitted":
            st.warning("This correction changed nothing: the saved mask is the model's own. Approve it only if "
                       "the model's mask was right as it is.")
            confirmed = st.checkbox("The model's mask is right: approve it unchanged", key=f"_unchanged_ok_{chosen.id}")
        note_round = st.session_state.setdefault("_review_note_round", 0)
        review_note = st.text_input("Review note", key=f"_review_note_{note_round}")
        buttons = [(label, action, False) for label, action in actions]
        buttons += [(f"{label} and next ▶", action, True) for label, action in actions if action != "reopen"]
        cols = st.columns(len(buttons))
        for col, (label, action, then_next) in zip(cols, buttons):
            if col.button(label, key=f"_{action}{'_next' if then_next else ''}",
                          disabled=action == "approve" and not confirmed):
                try:
                    store.review(chosen.id, action, actor=user, note=review_note)
                except LungSegError as exc:
                    st.error(f"Not changed: {exc}")
                else:
                    st.session_state["_review_note_round"] = note_round + 1  # a fresh, empty note
                    done_words = {"approve": "Approved", "reject": "Rejected", "reopen": "Reopened"}.get(action, action)
                    what_case = shown_case.title if shown_case else "the case"
                    st.session_state["_review_done"] = f"{done_words} {what_case} ({chosen.id[:8]})."
                    if then_next:
                        from lungseg_app.case_navigation import go_next

                        go_next(user, review=True)
                    elif shown_case is not None:
                        from lungseg_app.case_navigation import open_case

                        open_case(shown_case.number)  # the case just reviewed stays the one shown
                    st.rerun()

    if user.can("delete_case"):
        with st.expander("Delete this case (every version, image and mask)"):
            reason = st.text_input("Reason (kept in the audit log, e.g. patient request, wrong upload)",
                                   key="_delete_reason")
            sure = st.checkbox("I understand this cannot be undone", key="_delete_sure")
            if st.button("Delete case", key="_delete_case", disabled=not (sure and reason.strip())):
                try:
                    removed = store.delete_case(chosen.image_hash, actor=user, reason=reason)
                except LungSegError as exc:
                    st.error(f"Not deleted: {exc}")
                else:
                    st.success(f"Deleted the case and {removed} file(s).")
                    st.rerun()

if not user.can("export"):
    st.stop()
st.subheader("Export approved cases")
approved = len(store.list_corrections(status="approved"))
st.caption(f"{approved} approved version(s); the newest per image is exported. The zip has the training layout "
           "(images/, masks/, manifest.csv with a split column): `python -m lungseg_core train --data <folder>`.")
exporter = acting_user_later()  # the files are made (role checked, audited) when a button is clicked
e1, e2 = st.columns(2)
e1.download_button("Training data (zip)", lambda: export_training_zip(store, exporter()),
                   file_name="lungseg_corrections.zip",
                   mime="application/zip", disabled=not approved, key="_export_zip", on_click="ignore")
e2.download_button("COCO JSON (RLE masks)", lambda: export_coco_json(store, exporter()),
                   file_name="lungseg_corrections_coco.json",
                   mime="application/json", disabled=not approved, key="_export_coco", on_click="ignore")
