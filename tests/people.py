"""People for tests: one user per role (the store checks roles, not the accounts table)."""
from lungseg_core.access_control import User

ANN = User("ann", frozenset({"annotator"}))
ANN2 = User("amy", frozenset({"annotator"}))
REV = User("rev", frozenset({"reviewer"}))
REV2 = User("rita", frozenset({"reviewer"}))
ADMIN = User("root", frozenset({"admin"}))
NOBODY = User("visitor", frozenset())
