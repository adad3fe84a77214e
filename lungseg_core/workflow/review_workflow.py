"""The review state machine, in one place, for corrections and the worklist cases they belong to.

    draft ──submit──▶ submitted ──approve──▶ approved ──reopen──▶ submitted
                          │
                          └──reject──▶ rejected ──(new version)──▶ draft | submitted

Versions are immutable: editing a draft or a rejected version saves a new version that continues
it; a submitted version waits for its review, and an approved one must be reopened by a reviewer
before anyone builds on it. Nobody approves or rejects their own work (separation of duties).
"""
from __future__ import annotations

from ..people.access_control import User, require
from ..errors import LungSegError

DRAFT, SUBMITTED, APPROVED, REJECTED = "draft", "submitted", "approved", "rejected"
STATUSES = (DRAFT, SUBMITTED, APPROVED, REJECTED)
SAVE_STATUSES = (DRAFT, SUBMITTED)  # what a new version may be saved as

#: action -> (from status, to status)
TRANSITIONS: dict[str, tuple[str, str]] = {
    "submit": (DRAFT, SUBMITTED),
    "approve": (SUBMITTED, APPROVED),
    "reject": (SUBMITTED, REJECTED),
    "reopen": (APPROVED, SUBMITTED),
}
#: statuses a new version may continue from
CONTINUABLE = (DRAFT, REJECTED)
_AUDIT_ACTION = {"submit": "submitted", "approve": "approved", "reject": "rejected", "reopen": "reopened"}


#: A worklist case's status: before any version it is new or segmented (the model's mask is stored);
#: after, it is its latest version's status (a draft shows as "in progress").
NEW, SEGMENTED, IN_PROGRESS = "new", "segmented", "in progress"
CASE_STATUSES = (NEW, SEGMENTED, IN_PROGRESS, SUBMITTED, APPROVED, REJECTED)


def case_status(segmented: bool, latest_version_status: str | None) -> str:
    """The one mapping from a case's versions to its worklist status."""
    if latest_version_status is None:
        return SEGMENTED if segmented else NEW
    return IN_PROGRESS if latest_version_status == DRAFT else latest_version_status


class WorkflowError(LungSegError):
    """A status change or a new version that the review workflow does not allow (says why)."""


def audit_action(action: str) -> str:
    return _AUDIT_ACTION[action]


def check_transition(action: str, current: str, actor: User, author: str) -> str:
    """The status after `action`, or a clear error: wrong role, own work, or not from this status."""
    if action not in TRANSITIONS:
        raise WorkflowError(f"unknown review action {action!r}; valid: {', '.join(TRANSITIONS)}")
    require(actor, action)
    source, target = TRANSITIONS[action]
    if current != source:
        allowed = [a for a, (s, _) in TRANSITIONS.items() if s == current]
        raise WorkflowError(f"cannot {action} a {current} version (only a {source} one); "
                            f"possible now: {', '.join(allowed) or 'nothing: save a new version'}")
    if action == "submit" and actor.username != author:
        raise WorkflowError(f"only its author ({author}) submits a draft")
    if action in ("approve", "reject") and actor.username == author:
        raise WorkflowError("nobody reviews their own correction: ask another reviewer")
    return target


def check_new_version(parent_status: str | None, status: str) -> None:
    """A new version is saved as draft or submitted, and only continues a draft or rejected one."""
    if status not in SAVE_STATUSES:
        raise WorkflowError(f"a new version is saved as {' or '.join(SAVE_STATUSES)}, not {status!r}: "
                            "approval is a reviewer's separate step")
    if parent_status is not None and parent_status not in CONTINUABLE:
        hint = ("wait for its review" if parent_status == SUBMITTED
                else "ask a reviewer to reopen it first")
        raise WorkflowError(f"the latest version is {parent_status}: {hint}")
