"""Worklist commands: `import`, `segment-cases` and `export-cases` (server-side, large batches).

    python -m lungseg_core import /data/ward3 films.zip --label "ward 3"     # files, folders, zips
    python -m lungseg_core segment-cases --csv figures.csv --masks masks/     # new cases, default model
    python -m lungseg_core export-cases --json cases.json

They act as `cli:<os user>` in the audit log (whoever runs them can already read the store's files).
Each command imports what it uses inside its own function (`tools/import_graph.py` counts them and
finds no cycle through them): `users` or `audit` start in a fraction of a second without loading
torch, the models or the PACS client.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .people.access_control import User, command_line_user
from .storage.store_address import store_address

#: The Dask scheduler that segments cases (`segment-cases` and the Worklist's background job) when set.
CLUSTER_VARIABLE = "LUNGSEG_CLUSTER"


def _worklist(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .workflow.corrections_store import open_store
    from .workflow.worklist import Worklist

    return Worklist(open_store(store_address(args.store or None)))


def cmd_import(args: argparse.Namespace) -> int:
    from .workflow.case_import import from_paths, import_sources

    worklist = _worklist(args)
    report = import_sources(worklist, from_paths(args.paths), command_line_user(), args.label, how="command line",
                            on_file=lambda n: print(f"\r{n} files read", end="", file=sys.stderr)
                            if n % 50 == 0 else None)
    print(file=sys.stderr)
    for name, number in report.duplicates:
        print(f"{name}: same pixels as case {number} (not added again)")
    for name, why in report.failed:
        print(f"{name}: NOT IMPORTED: {why}")
    for name, warning in report.warnings:
        print(f"{name}: WARNING: {warning}")
    print(report.summary() + (f" (cases {report.added[0]}-{report.added[-1]})" if report.added else ""))
    return 1 if report.failed else 0


def cmd_segment(args: argparse.Namespace) -> int:
    from .workflow import batch_segmentation as batch

    if args.job_dir:  # started by the app, which checked the role and audited the start
        return batch.run_job(Path(args.job_dir), store_address(args.store or None), args.model,
                             User(args.started_by or "app", frozenset({"annotator"})))
    from .models.model_loading import load_model
    from .models.model_versions import default_model_name

    worklist = _worklist(args)
    show = lambda p: print(f"\r{p['done']}/{p['total']} cases, {p['per_second']:.1f}/s", end="",  # noqa: E731
                           file=sys.stderr)
    cluster = args.cluster or os.environ.get(CLUSTER_VARIABLE)
    if cluster:  # on the Dask scheduler at that address: workers open the store themselves
        from .workflow.cluster_segmentation import segment_on_cluster

        summary = segment_on_cluster(worklist.store.address, cluster, args.model or default_model_name(),
                                     command_line_user(), on_progress=show)
    else:
        summary = batch.segment_cases(worklist, load_model(args.model or default_model_name()), command_line_user(),
                                      on_progress=show)
    print(file=sys.stderr)
    for number, why in summary["failed"]:
        print(f"case {number}: NOT SEGMENTED: {why}")
    print(f"{summary['done']} cases segmented with {summary['model']} in {summary['seconds']:.1f} s")
    _write_outputs(args, worklist)
    return 1 if summary["failed"] else 0


def _write_outputs(args: argparse.Namespace, worklist) -> None:  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np

    from .workflow.worklist import rows_csv, rows_json

    if args.masks:
        out = Path(args.masks)
        out.mkdir(parents=True, exist_ok=True)
        for case in worklist.list_cases():
            if case.mask_hash:
                mask = worklist.store.load_mask(case.mask_hash)
                cv2.imwrite(str(out / f"case_{case.number:05d}_mask.png"), mask.astype(np.uint8) * 255)
        print(f"wrote masks to {out}/case_<number>_mask.png")
    if getattr(args, "csv", None) or getattr(args, "json", None):
        rows = worklist.export_rows(command_line_user())
        if args.csv:
            Path(args.csv).write_text(rows_csv(rows))
            print(f"wrote {args.csv} ({len(rows)} cases)")
        if getattr(args, "json", None):
            Path(args.json).write_text(rows_json(rows))
            print(f"wrote {args.json} ({len(rows)} cases)")


def cmd_export(args: argparse.Namespace) -> int:
    if not (args.csv or args.json or args.masks):
        print("error: give --csv, --json and/or --masks", file=sys.stderr)
        return 2
    _write_outputs(args, _worklist(args))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="import X-rays (files, folders, zips) as worklist cases")
    p.add_argument("paths", nargs="+", help="PNG, JPEG, DICOM files, folders (recursively) or zip files")
    p.add_argument("--label", help="a label for every imported case (never a patient name)")
    p.add_argument("--store", help="store folder (default: $LUNGSEG_STORE or store/)")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("segment-cases", help="segment the worklist's new cases with the default model")
    p.add_argument("--model", help="default: the current default model")
    p.add_argument("--store")
    p.add_argument("--csv", help="then write every case's figures to this CSV")
    p.add_argument("--json", help="... or JSON")
    p.add_argument("--masks", help="then write every case's mask to this folder")
    p.add_argument("--cluster", help=f"a Dask scheduler (tcp://host:8786) whose workers segment the cases "
                                     f"(default: ${CLUSTER_VARIABLE}; none: this process)")
    p.add_argument("--job-dir", help=argparse.SUPPRESS)
    p.add_argument("--started-by", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_segment)
    p = sub.add_parser("export-cases", help="write every case's figures (areas, ratio, estimated Dice, status)")
    p.add_argument("--store")
    p.add_argument("--csv")
    p.add_argument("--json")
    p.add_argument("--masks")
    p.set_defaults(func=cmd_export)
