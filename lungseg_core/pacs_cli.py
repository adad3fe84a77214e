"""Command line for the PACS: `pacs-import` (find chest CR/DX and bring them in as cases) and
`pacs-export CASE` (the approved case back as DICOM SEG + SR, sent by STOW-RS and/or written to files).
The PACS comes from --url or $LUNGSEG_PACS_URL, its account from $LUNGSEG_PACS_USER and
$LUNGSEG_PACS_PASSWORD (never on the command line, where other users could read it).

Each command imports what it uses inside its own function (`tools/import_graph.py` counts them and
finds no cycle through them): `users` or `audit` start in a fraction of a second without loading
torch, the models or the PACS client.
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from .errors import LungSegError
from .people.access_control import command_line_user
from .storage.store_address import store_address


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .pacs.connection import PacsSettings, settings_from

    settings = settings_from({}, {**os.environ, **({"LUNGSEG_PACS_URL": args.url} if args.url else {})})
    if settings is None:
        raise LungSegError("no PACS: give --url or set LUNGSEG_PACS_URL")
    return PacsSettings(settings.url, settings.username, settings.password, args.timeout or settings.timeout_s)


def _worklist(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .workflow.corrections_store import open_store
    from .workflow.worklist import Worklist

    return Worklist(open_store(store_address(args.store or None)))


def cmd_pacs_import(args: argparse.Namespace) -> int:
    from .pacs.pacs_import import import_images
    from .pacs.query import find_chest_images

    settings = _settings(args)
    found = find_chest_images(settings, date.fromisoformat(args.date_from) if args.date_from else None,
                              date.fromisoformat(args.date_to) if args.date_to else None, args.view)
    print(f"{len(found)} chest radiograph(s) found")
    for image in found:
        print("  " + ", ".join(f"{k} {v}" for k, v in image.as_row().items()))
    if args.list or not found:
        return 0
    report = import_images(_worklist(args), settings, found[: args.limit], command_line_user(), args.label)
    print(report.summary())
    for what, why in report.refused:
        print(f"  refused {what}: {why}", file=sys.stderr)
    return 0


def cmd_pacs_export(args: argparse.Namespace) -> int:
    from .pacs.pacs_export import CaseExport, export_case

    result = export_case(_worklist(args), _settings(args), args.case, command_line_user(), send=not args.no_send)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, ds in (("seg", result.seg), ("sr", result.sr)):
            (out / f"case{args.case}_{name}.dcm").write_bytes(CaseExport.file_bytes(ds))
    print(f"case {args.case}: SEG {result.seg.SOPInstanceUID} and SR {result.sr.SOPInstanceUID}"
          + (" sent" if result.sent else "") + (f", written to {args.out}" if args.out else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, helptext, func in (("pacs-import", "find chest CR/DX in the PACS and import them as cases",
                                  cmd_pacs_import),
                                 ("pacs-export", "send an approved case to the PACS as DICOM SEG + SR",
                                  cmd_pacs_export)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--url", help="the PACS's DICOMweb root (default: $LUNGSEG_PACS_URL)")
        p.add_argument("--timeout", type=float, help="seconds to wait for the PACS (default 20)")
        p.add_argument("--store", help="store folder (default: $LUNGSEG_STORE or store/)")
        if name == "pacs-import":
            p.add_argument("--from", dest="date_from", help="first study date, YYYY-MM-DD")
            p.add_argument("--to", dest="date_to", help="last study date, YYYY-MM-DD")
            p.add_argument("--view", help="only this view (PA, AP, LL, ...)")
            p.add_argument("--limit", type=int, default=200, help="import at most this many (newest first)")
            p.add_argument("--label", help="a label for every imported case (never a patient name)")
            p.add_argument("--list", action="store_true", help="only list what the PACS has")
        else:
            p.add_argument("case", type=int, help="the case number")
            p.add_argument("--out", help="also write the SEG and SR files to this folder")
            p.add_argument("--no-send", action="store_true", help="write the files only (with --out)")
        p.set_defaults(func=func)
