"""Retrain (admins): fine-tune a model on approved corrections in a background process, watch its
progress (it survives a page reload), cancel it; read the gate's evidence and promote a candidate
to the default explicitly, or roll back to an earlier default."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from lungseg_app.auth import acting_user
from lungseg_app.plain_text import plain
from lungseg_app.state import MODEL_KEY, cached_store, chosen_model, sidebar
from lungseg_core import LungSegError, list_models
from lungseg_core.people.audit import AuditLog
from lungseg_core.models.model_catalog import model_summaries
from lungseg_core.models.model_versions import default_model_name, derived_names, earlier_defaults, promote, rollback
from lungseg_core.learning.retrain_jobs import JobBusyError, active_job, cancel_job, latest_job, start_job
from lungseg_core.learning.gate_evidence import evidence_tables
from lungseg_core.learning.retraining import FINE_TUNE_EPOCHS, SPARED_EPOCHS, read_card_of, verdict
from lungseg_core.models.model_loading import model_folder

import os  # noqa: E402

# The base data mixed into every retrain: $LUNGSEG_BASE_DATA, else the shared training set beside the checkout.
DEFAULT_DATA = Path(os.environ.get("LUNGSEG_BASE_DATA")
                    or Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cxr-lungs")

st.set_page_config(page_title="Retrain · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Retrain from corrections")
if not user.can("retrain"):
    st.info("Retraining and choosing the default model are for admins.")
    st.subheader("Model versions")
    st.dataframe(model_summaries(), hide_index=True)
    st.stop()

store = cached_store()
audit_log = AuditLog(store.database)
approved = len(store.list_corrections(status="approved"))
running = active_job(address=store.address)

names = list_models()
c1, c2, c3 = st.columns([2, 1, 3])
base = c1.selectbox("Start from", names, index=names.index(chosen_model()) if chosen_model() in names else 0,
                    key="_rt_base")
epochs = c2.number_input("Epochs (empty: automatic)", 1, 50, None, key="_rt_epochs", placeholder="automatic",
                         help=f"Passes over the corrections. Automatic: {FINE_TUNE_EPOCHS}, or {SPARED_EPOCHS} where "
                              "your team's corrections are a drawing convention the gate honours (the replay then "
                              "leaves that zone to them). These learnt other hospitals' films best without forgetting "
                              "the original ones; more epochs rarely help and take longer")
data = c3.text_input("Base training data (mixed in so the model does not forget; its val split decides)",
                     value=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else "", key="_rt_data")
st.caption(f"{approved} approved correction(s) in the store. About a quarter are held back to judge the result.")
if not data or not (Path(data) / "manifest.csv").is_file():
    st.warning(f"No base data{' in ' + data if data else ''} (a folder with manifest.csv): the job would train on "
               "corrections only, may forget what the model knew, and the gate will not decide without the "
               "validation split. Set $LUNGSEG_BASE_DATA or type the folder.")
if st.button("Start retraining", type="primary", disabled=running is not None or approved < 2, key="_rt_start"):
    try:
        start_job(base, store.address, Path(data) if data and (Path(data) / "manifest.csv").is_file() else None,
                  epochs=int(epochs) if epochs else None, actor=user)
    except (JobBusyError, LungSegError) as exc:
        st.error(str(exc))
    else:
        st.rerun()


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Re-read the job's progress file every second without rerunning the page."""
    job = active_job(address=store.address)
    shown = latest_job()
    if shown is None:
        st.info("No retraining job has run yet.")
        return
    state = shown.get("state", "?")
    who = f", started by {plain(shown['started_by'])}" if shown.get("started_by") else ""
    if job is not None and job["id"] == shown["id"]:
        st.session_state["_rt_watching"] = job["id"]
        epoch, epochs_ = shown.get("epoch", 0), shown.get("epochs") or 1  # None until training says
        step, steps = shown.get("step_in_epoch", 0), max(1, shown.get("steps_per_epoch", 1))
        fraction = min(1.0, ((max(epoch, 1) - 1) + step / steps) / max(1, epochs_)) if epoch else 0.0
        loss = shown.get("loss")
        val = shown.get("val_dice")
        text = (f"Job {shown['id']} ({shown.get('base')}{who}): epoch {epoch}/{epochs_}, step {step}/{steps}"
                + (f", loss {loss:.4f}" if loss is not None else "")
                + (f", val Dice {val:.4f}" if val is not None else "")
                + {"evaluating": " — evaluating the candidate against its parent…",
                   "teaching click-to-fix": " — teaching click-to-fix your team's corrections…",
                   "training on all corrections": " — training on all corrections…"}.get(shown.get("phase"), ""))
        st.progress(fraction, text=text)
        if st.session_state.get("_rt_confirm_cancel"):
            st.warning("Cancel this job? Its progress is lost and no version is saved.")
            y, n = st.columns(2)
            if y.button("Yes, cancel the job", key="_rt_cancel_yes"):
                st.session_state["_rt_confirm_cancel"] = False
                actor = acting_user()  # this fragment outlives the run that drew it: who is acting now?
                if actor is None:
                    st.error("You are signed out (or your account changed): sign in again to cancel the job.")
                else:
                    cancel_job(actor=actor, audit_log=audit_log, address=store.address)
                    st.rerun(scope="app")
            if n.button("No, keep it running", key="_rt_cancel_no"):
                st.session_state["_rt_confirm_cancel"] = False
                st.rerun(scope="fragment")
        elif st.button("Cancel job", key="_rt_cancel"):
            st.session_state["_rt_confirm_cancel"] = True
            st.rerun(scope="fragment")
    else:
        if st.session_state.pop("_rt_watching", None):  # the job just ended: show its candidate on the page
            st.rerun(scope="app")
        message = shown.get("message", state)
        (st.success if state == "done" else st.warning if state == "cancelled" else st.error)(
            f"Last job {shown['id']}{who}: {state} — {message}")


progress_panel()

def change_default(action, name: str, why: str, refused: str, **options) -> None:  # type: ignore[no-untyped-def]
    """Promote or roll back; the page shows the new default, or why not."""
    try:
        action(name, user, why, audit_log, **options)
    except LungSegError as exc:
        st.error(f"{refused}: {plain(exc)}")
    else:
        st.session_state[MODEL_KEY] = name  # this admin's own sidebar follows the new default at once
        st.session_state["_pr_done"] = f"{name} is now the default model for every user (their next run uses it)."
        st.session_state.pop("_pr_confirm", None)
        st.rerun()


st.subheader("Choose the default model")
done = st.session_state.pop("_pr_done", None)
if done:
    st.success(done)
current = default_model_name()
st.write(f"Every user segments with **{current}** unless they pick another model.")
candidates = [n for n in reversed(derived_names()) if n != current]
if candidates:
    # keyed by the current default: after a promotion or rollback the choices start afresh
    picked = st.selectbox("Candidate", candidates, key=f"_pr_candidate_{current}")
    card = read_card_of(picked) or {}
    lineage = card.get("lineage", {})
    gate = lineage.get("gate", {})
    st.markdown(f"**Lineage:** {' → '.join(lineage.get('chain', [lineage.get('parent', '?'), picked]))}; trained on "
                f"{lineage.get('corrections_train', '?')} correction(s), {lineage.get('corrections_holdout', '?')} "
                f"held back to judge it; {lineage.get('base_train_cases', 0)} base training case(s).")
    recommended = gate.get("promote")
    (st.success if recommended else st.warning)(  # the verdict first, then what it rests on
        f"Gate: {verdict(gate)} — {gate.get('reason', 'no gate evidence in its card')}"
        + (f". Next: {gate['next_step']}." if gate.get("next_step") else ""))
    for title, rows in evidence_tables(lineage):
        st.caption(f"**{title}**: before = the current model ({lineage.get('parent', '?')}), after = {picked}")
        st.dataframe(rows, hide_index=True, width="stretch",
                     column_config={"Dice change": st.column_config.NumberColumn("Dice change", format="%+.4f")})
    if lineage.get("evidence"):
        st.caption("Recall falling while precision holds means masks shrinking (lung left out); precision falling "
                   "means masks spilling over.")
    site = lineage.get("site_gate") or {}
    pictures = lineage.get("gate_pictures") or {}
    if site.get("decided"):
        cells = st.columns(3)
        cells[0].metric("Your team's held-back corrections", f"{site['holdout_candidate_dice']:.3f}",
                        f"{site['holdout_candidate_dice'] - site['holdout_parent_dice']:+.3f} Dice",
                        help="95 % interval of the gain: {:+.3f} to {:+.3f}".format(*site["holdout_gain_interval"]))
        cells[1].metric("Forgetting elsewhere (original val)", f"{site['forgetting']:+.4f}",
                        help="Dice lost on the original validation films outside the map of your team's convention "
                             "(at most 0.002 allowed)", delta_color="off")
        cells[2].metric("Changes in one consistent place", f"{site['systematic_share']:.0%}",
                        help="Share of your held-back corrections' changes that fall in the map: a drawing "
                             "convention puts most of them there; noise does not", delta_color="off")
    clicks = lineage.get("click_fix") or {}
    if clicks.get("reason"):
        said = f"Click-to-fix: {plain(clicks['reason'])}" + ("" if clicks.get("use") else " (it keeps the current one)")
        (st.success if clicks.get("use") else st.caption)(said)
    folder = model_folder(picked)
    shown = [(folder / pictures[k], caption) for k, caption in (
        ("convention_map", "Where your team's corrections systematically add (green) or remove (red) lung, "
                           "in chest coordinates (patient's right on the left)"),
        ("films", "Held-back films: your team's correction (yellow), the current model (red), the candidate (green)"))
        if pictures.get(k) and (folder / pictures[k]).is_file()]
    if shown:
        for col, (path, caption) in zip(st.columns([1, 3]), shown):
            col.image(str(path), caption=caption, width="stretch")
    reason = st.text_input("Why promote it (kept in the history and the audit log)", key=f"_pr_reason_{current}")
    against = False
    if not recommended:
        against = st.checkbox(f"I have read the gate's verdict ({verdict(gate) if gate else 'no gate evidence'}) "
                              f"and want to promote {picked} anyway", key=f"_pr_against_{current}_{picked}")
    if st.button(f"Promote {picked} to default…", key="_pr_promote",
                 disabled=not reason.strip() or (not recommended and not against)):
        st.session_state["_pr_confirm"] = picked
    if st.session_state.get("_pr_confirm") == picked and reason.strip():
        st.warning(f"Make {picked} the default model for every user now, instead of {current}? "
                   f"Gate: {verdict(gate) if gate else 'no gate evidence'}. You can roll back afterwards.")
        y, n = st.columns(2)
        if y.button(f"Yes, make {picked} the default", key="_pr_yes", type="primary"):
            change_default(promote, picked, reason, "Not promoted", against_gate=not recommended)
        if n.button("No, keep the current default", key="_pr_no"):
            st.session_state.pop("_pr_confirm", None)
            st.rerun()
elif derived_names():
    st.caption(f"No other retrained version to promote: the default is {current}.")
else:
    st.caption("No retrained candidate yet: retrain from approved corrections above.")
earlier = earlier_defaults()
if earlier:
    r1, r2 = st.columns([2, 3])
    back_to = r1.selectbox("Roll back to an earlier default", earlier, key=f"_rb_target_{current}",
                           help="Newest first: the first choice undoes the last change.")
    rb_reason = r2.text_input("Why roll back", key=f"_rb_reason_{current}")
    if st.button(f"Roll back to {back_to}", key="_rb_go", disabled=not rb_reason.strip()):
        change_default(rollback, back_to, rb_reason, "Not rolled back")

st.subheader("Model versions")
st.dataframe(model_summaries(), hide_index=True)
