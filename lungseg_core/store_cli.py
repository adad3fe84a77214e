"""Store maintenance commands: `audit verify`, `store check [--repair]` and `migrate-store`.

    python -m lungseg_core audit verify            # every audit row's hash links to the one before
    python -m lungseg_core store check --repair    # remove image files no record names (after kill -9)
    python -m lungseg_core migrate-store --from sqlite:///srv/store --to postgresql://…?files=/mnt/lungseg

They act as `cli:<os user>` (whoever runs them can already read the store's files).
Each command imports what it uses inside its own function (`tools/import_graph.py` counts them and
finds no cycle through them): `users` or `audit` start in a fraction of a second without loading
torch, the models or the PACS client.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _address(args: argparse.Namespace) -> str:
    from .storage.store_address import store_address

    return store_address(args.store or None)


def cmd_audit(args: argparse.Namespace) -> int:
    from .people.audit import verify_chain

    from .storage.store_address import database_of

    report = verify_chain(database_of(_address(args)))
    if report.ok:
        print(f"audit log intact: {report.rows} rows, every hash links to the row before")
        return 0
    shown = ", ".join(str(s) for s in report.broken[:20]) + (" …" if len(report.broken) > 20 else "")
    print(f"audit log BROKEN: {len(report.broken)} of {report.rows} rows do not match their hash chain "
          f"(rows {shown}): a row was edited, removed or inserted outside the app", file=sys.stderr)
    return 1


def cmd_store(args: argparse.Namespace) -> int:
    from .people.access_control import command_line_user
    from .workflow.corrections_store import open_store

    store = open_store(_address(args))
    min_age = args.min_age_hours * 3600
    if args.repair:
        removed = store.sweep_orphans(command_line_user(), min_age)
        print(f"removed {len(removed)} orphan file(s) (no record names them, older than {args.min_age_hours:g} h)")
        for path in removed:
            print(f"  {path.relative_to(store.root)}")
        return 0
    orphans = store.orphan_files(min_age)
    size = sum(p.stat().st_size for p in orphans)
    print(f"{len(orphans)} orphan file(s), {size / 1e6:.1f} MB (no record names them, older than "
          f"{args.min_age_hours:g} h)" + ("; remove them with --repair" if orphans else ""))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy every record and file to another store, verify, and say so in the target's audit log."""
    from .people.access_control import command_line_user
    from .people.audit import AuditLog
    from .storage.store_address import database_of, files_of
    from .storage.store_copy import copy_store

    target_files = Path(args.to_files) if args.to_files else files_of(args.to)
    report = copy_store(database_of(args.source), files_of(args.source), database_of(args.to), target_files)
    print(report.summary())
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    if report.ok:
        AuditLog(database_of(args.to)).append(command_line_user().username, "store_migrated", "",
                                              {"rows": report.rows, "files": report.files,
                                               "new_rows": sum(report.copied.values())})
    return 0 if report.ok else 1


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="check the audit log's hash chain")
    p.add_argument("action", choices=("verify",))
    p.add_argument("--store", help="store folder (default: $LUNGSEG_STORE or store/)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("store", help="check the store for files no record names (and remove them with --repair)")
    p.add_argument("action", choices=("check",))
    p.add_argument("--repair", action="store_true", help="remove the orphan files (audited)")
    p.add_argument("--min-age-hours", type=float, default=1.0,
                   help="only files older than this (a save in progress writes its files first; default 1)")
    p.add_argument("--store", help="store folder (default: $LUNGSEG_STORE or store/)")
    p.set_defaults(func=cmd_store)
    p = sub.add_parser("migrate-store", help="copy a whole store (records, audit chain, files) to another database "
                                             "and verify it; re-runnable")
    p.add_argument("--from", dest="source", required=True, help="the store to copy: a folder, sqlite:///folder or "
                                                                "postgresql://…")
    p.add_argument("--to", required=True, help="where to: postgresql://user:password@host:port/name[?files=/folder], "
                                               "or a folder")
    p.add_argument("--to-files", help="the target's file folder (default: the URL's files=, else $LUNGSEG_STORE)")
    p.set_defaults(func=cmd_migrate)
