"""The link of the tamper-evident audit log, the same on every database: each row carries the hash of
the row before it, so a changed, removed or inserted row breaks the chain (`people.audit.verify_chain`)."""
from __future__ import annotations

import hashlib
import json
from typing import Iterable


def audit_row_hash(prev_hash: str, at: str, actor: str, action: str, target: str, detail: str, reason: str) -> str:
    """The chain link of one audit row: SHA-256 over the previous row's hash and this row's fields."""
    payload = json.dumps([prev_hash, at, actor, action, target, detail, reason], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def chain_breaks(rows: Iterable[tuple]) -> tuple[int, list[int]]:
    """(rows read, sequence numbers whose link does not hold) over (seq, at, actor, action, target, detail,
    reason, prev_hash, row_hash) rows in sequence order."""
    broken, prev, count = [], "", 0
    for seq, at, actor, action, target, detail, reason, prev_hash, row_hash in rows:
        count += 1
        if prev_hash != prev or row_hash != audit_row_hash(prev_hash, at, actor, action, target, detail, reason):
            broken.append(seq)
        prev = row_hash
    return count, broken
