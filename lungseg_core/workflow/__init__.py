"""The store, review workflow, claims, the worklist and its quality estimate."""
