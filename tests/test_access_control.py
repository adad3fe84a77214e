"""Every role x action pair, parsing roles, and the error a refused call raises."""
import pytest

from lungseg_core.people.access_control import (ACTIONS, ADMIN, ANNOTATOR, REVIEWER, PermissionDenied, User, parse_roles,
                                         require)

ANNOTATOR_MAY = {"segment", "save_correction", "submit", "claim"}
REVIEWER_MAY = ANNOTATOR_MAY | {"approve", "reject", "reopen", "export"}
ADMIN_MAY = set(ACTIONS)


@pytest.mark.parametrize("role,allowed", [(ANNOTATOR, ANNOTATOR_MAY), (REVIEWER, REVIEWER_MAY), (ADMIN, ADMIN_MAY)])
@pytest.mark.parametrize("action", ACTIONS)
def test_every_role_action_pair(role, allowed, action):
    user = User("u", frozenset({role}))
    assert user.can(action) == (action in allowed)
    if action in allowed:
        assert require(user, action) is user
    else:
        with pytest.raises(PermissionDenied, match=f"u may not {action.replace('_', ' ')}: it needs the"):
            require(user, action)


def test_several_roles_add_up_and_disabled_or_absent_users_may_nothing():
    both = User("b", parse_roles("annotator, reviewer"))
    assert both.can("approve") and both.can("save_correction") and not both.can("promote")
    with pytest.raises(PermissionDenied, match="disabled"):
        require(User("d", frozenset({ADMIN}), active=False), "segment")
    with pytest.raises(PermissionDenied, match="sign in"):
        require(None, "segment")
    with pytest.raises(PermissionDenied, match="no role"):
        require(User("n", frozenset()), "segment")
    assert ADMIN_MAY == {"segment", "save_correction", "submit", "claim", "approve", "reject", "reopen", "export",
                         "manage_users", "retrain", "cancel_retrain", "promote", "rollback", "delete_case", "view_audit"}


def test_parse_roles_rejects_unknown():
    assert parse_roles(["Admin", " reviewer "]) == {"admin", "reviewer"}
    with pytest.raises(ValueError, match="unknown role"):
        parse_roles("annotator,superuser")
    with pytest.raises(ValueError):
        User("x", frozenset()).can("fly")
