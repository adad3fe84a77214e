"""Command line: `python -m lungseg_core train|evaluate|predict|retrain|users|promote|rollback|import|
segment-cases|export-cases|audit|store|models --help`.

Each command imports what it uses inside its own function (`tools/import_graph.py` counts them and
finds no cycle through them): `users` or `audit` start in a fraction of a second without loading
torch, the models or the PACS client.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import LungSegError
from .models.registry import DEFAULT_MODEL, registered_names
from .storage.store_address import database_of, store_address


def _cmd_train(args: argparse.Namespace) -> int:
    from .models.registry import get_recipe
    from .learning.training import TrainOptions, train

    recipe = get_recipe(args.model)
    if args.size:
        recipe = recipe.with_overrides(input_size=args.size)
    train(recipe, TrainOptions(data_dir=Path(args.data), out_dir=Path(args.out), epochs=args.epochs,
                               batch_size=args.batch_size, limit=args.limit, max_steps=args.max_steps,
                               resume=not args.no_resume, evaluate_test=not args.no_test))
    print(f"wrote {Path(args.out) / (recipe.name + '.safetensors')} and its card")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .learning.dataset import read_manifest
    from .learning.evaluation import evaluate_cases, format_table
    from .models.model_loading import load_model

    seg = load_model(args.model, args.weights_dir, precision=args.precision)
    cases = read_manifest(args.data, args.split, args.limit)
    if not cases:
        raise LungSegError(f"no cases with split {args.split!r} in {args.data}/manifest.csv")
    report = evaluate_cases(seg, cases)
    print(f"{args.model} on {args.split} ({len(cases)} images, {seg.precision}, "
          f"{report['ms_per_image']:.0f} ms/image incl. post-processing)")
    print(format_table(report["by_source"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "split": args.split, **report}, indent=2))
        print(f"wrote {args.json}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from .imaging.image_io import read_xray
    from .models.model_loading import load_model

    seg = load_model(args.model, args.weights_dir, precision=args.precision)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.images:
        try:
            image = read_xray(Path(path).read_bytes())
        except (LungSegError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        mask = seg.predict(image.pixels)
        target = out / f"{Path(path).stem}_mask.png"
        cv2.imwrite(str(target), mask.astype(np.uint8) * 255)
        print(f"{path}: lung fraction {mask.mean():.3f} -> {target}")
    return 1 if failures else 0


def _cmd_refresh_card(args: argparse.Namespace) -> int:
    from .learning.training import refresh_card

    refresh_card(args.model, Path(args.data), Path(args.weights_dir) if args.weights_dir else None)
    print(f"rewrote the val/test figures of {args.model}'s card")
    return 0


def _cmd_retrain(args: argparse.Namespace) -> int:
    from .learning.retrain_jobs import jobs_dir, run_job

    job_dir = Path(args.job_dir) if args.job_dir else jobs_dir() / time.strftime("cli-%Y%m%d-%H%M%S")
    job_dir.mkdir(parents=True, exist_ok=True)
    if args.store_from_environment:
        args.store = store_address(None)
    if not args.store and not args.corrections_zip:
        raise LungSegError("give --store (the corrections store) or --corrections-zip (a Review page export)")
    if args.store and not args.started_by:  # run by hand on the server (the app's jobs are audited when started)
        from .people.access_control import command_line_user
        from .people.audit import AuditLog

        AuditLog(database_of(store_address(args.store))).append(command_line_user().username, "retrain_started",
                                                            job_dir.name, {"base": args.base, "epochs": args.epochs})
    code = run_job(job_dir, args.base, args.store or None, Path(args.data) if args.data else None,
                   args.epochs, args.size, args.max_steps,
                   Path(args.corrections_zip) if args.corrections_zip else None,
                   all_corrections_epochs=args.then_all_epochs)
    progress = json.loads((job_dir / "progress.json").read_text())
    print(progress.get("message", progress.get("state")))
    if progress.get("result"):
        print(json.dumps(progress["result"], indent=2))
    return code


def _database(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The database of --store (a folder or a postgresql:// URL), else of $LUNGSEG_STORE_URL / $LUNGSEG_STORE."""
    return database_of(store_address(args.store or None))


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from stdin with --password-stdin, else a generated one-time password."""
    from .people.accounts import one_time_password

    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n"), False
    return one_time_password(args.username or ""), True


def _cmd_users(args: argparse.Namespace) -> int:
    from .people.access_control import command_line_user
    from .people.accounts import UserDirectory

    users = UserDirectory(_database(args))
    me = command_line_user()
    if args.action == "list":
        for u in users.list_users():
            print(f"{u.username:<32}{','.join(sorted(u.roles)) or '-':<28}{'active' if u.active else 'disabled':<10}"
                  f"{u.display_name}")
        return 0
    if args.action == "add":
        password, generated = (None, False) if args.no_password else _new_password(args)
        user = users.add_user(me, args.username, args.roles, password, display_name=args.display_name or "",
                              must_change_password=generated or not args.no_password)
        print(f"added {user.username} ({', '.join(sorted(user.roles))})")
        if generated:
            print(f"one-time password: {password}   (to be changed at the first sign-in)")
        elif args.no_password:
            print("no password: this account signs in through the identity provider only")
        return 0
    if args.action in ("disable", "enable"):
        users.set_active(me, args.username, args.action == "enable", reason=args.reason or "")
        print(f"{args.username} {args.action}d")
        return 0
    if args.action == "reset-password":
        password, generated = _new_password(args)
        users.reset_password(me, args.username, password, reason=args.reason or "")
        print(f"password of {args.username} reset; it must be changed at the next sign-in")
        if generated:
            print(f"one-time password: {password}")
        return 0
    if args.action == "link":
        if not args.email:
            raise LungSegError("give --email ADDRESS (the address the identity provider verifies)")
        users.link_identity(me, args.username, args.email, reason=args.reason or "")
        print(f"{args.email.strip().lower()} may now sign in through the identity provider as {args.username}")
        return 0
    if args.action == "roles":
        user = users.set_roles(me, args.username, args.roles, reason=args.reason or "")
        print(f"{user.username}: {', '.join(sorted(user.roles)) or 'no role'}")
        return 0
    raise LungSegError(f"unknown users action {args.action}")


def _cmd_promote(args: argparse.Namespace) -> int:
    from .people.access_control import command_line_user
    from .people.audit import AuditLog
    from .models.model_versions import promote, rollback

    log = AuditLog(_database(args))
    if args.command == "promote":
        entry = promote(args.name, command_line_user(), args.reason, log, against_gate=args.against_gate)
    else:
        entry = rollback(args.name, command_line_user(), args.reason, log)
    print(f"default model: {entry['name']} (was {entry['previous']})")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .models.model_loading import list_models

    from .models.model_versions import default_model_name

    present = list_models(args.weights_dir)
    default = default_model_name()
    for name in dict.fromkeys(registered_names() + present):
        state = "weights present" if name in present else "no weights"
        print(f"{name:<28}{state}{'  (default)' if name == default else ''}")
    return 0


def _cmd_train_click(args: argparse.Namespace) -> int:
    from .learning.click_training import ClickTrainOptions, train_click_model

    path = train_click_model(ClickTrainOptions(
        Path(args.data), Path(args.out), base=args.base, max_steps=args.max_steps, max_minutes=args.max_minutes,
        batch_size=args.batch_size, workers=args.workers, device=args.device, limit=args.limit,
        checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else None))
    print(f"wrote {path}")
    return 0


def _add_model_commands(sub: Any, names: str) -> None:
    """evaluate, predict, refresh-card."""
    for name, func, helptext in (("evaluate", _cmd_evaluate, "per-source metrics of a model on a split"),
                                 ("predict", _cmd_predict, "write lung masks for image files")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name ({names})")
        p.add_argument("--weights-dir", help="folder with <model>.safetensors (default: bundled weights/)")
        p.add_argument("--precision", choices=("fp32", "bf16"), help="default: bf16 where the CPU has it")
        p.set_defaults(func=func)
        if name == "evaluate":
            p.add_argument("--data", required=True, help="folder with manifest.csv")
            p.add_argument("--split", default="test", choices=("train", "val", "test"))
            p.add_argument("--limit", type=int)
            p.add_argument("--json", help="also write per-image and summary figures to this JSON file")
        else:
            p.add_argument("images", nargs="+", help="PNG, JPEG or DICOM files")
            p.add_argument("--out", default="masks", help="output folder for <stem>_mask.png")

    p = sub.add_parser("refresh-card",
                       help="re-evaluate a model's val/test figures with its current inference settings")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--data", required=True)
    p.add_argument("--weights-dir")
    p.set_defaults(func=_cmd_refresh_card)


def _add_training_commands(sub: Any, names: str) -> None:
    """train, train-click, retrain."""
    p = sub.add_parser("train", help="train a registered recipe on a data folder (resumes from its checkpoint)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"recipe name ({names})")
    p.add_argument("--data", required=True, help="folder with manifest.csv (cxr-lungs layout or an export)")
    p.add_argument("--out", default="weights", help="where weights, card, curves and checkpoints go")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--size", type=int, help="override the recipe's input size")
    p.add_argument("--limit", type=int, help="use only the first N cases of each split (smoke tests)")
    p.add_argument("--max-steps", type=int, help="stop after N optimiser steps (smoke tests)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--no-test", action="store_true", help="skip the test-split report in the card")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("train-click", help="train the click-to-fix network from the default's weights (resumes)")
    p.add_argument("--data", required=True, help="folder with manifest.csv (its train split is used)")
    p.add_argument("--out", default="runs/click_fix", help="where click_fix.safetensors and the training log go")
    p.add_argument("--checkpoint-dir", help="where the resumable checkpoint goes (default: --out)")
    p.add_argument("--base", default=DEFAULT_MODEL)
    p.add_argument("--max-steps", type=int, default=3000)
    p.add_argument("--max-minutes", type=float, default=60.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=0, help="data-loading processes")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--limit", type=int, help="first N train cases only (smoke tests)")
    p.set_defaults(func=_cmd_train_click)

    p = sub.add_parser("retrain", help="fine-tune a model on approved corrections, gate it, save a new version")
    p.add_argument("--base", default=DEFAULT_MODEL, help="model to start from (a name from `models`)")
    p.add_argument("--store", help="corrections store (a folder, sqlite:///folder or postgresql://…): its approved "
                                   "corrections")
    p.add_argument("--store-from-environment", action="store_true",
                   help="the store of $LUNGSEG_STORE_URL / $LUNGSEG_STORE (how the app starts its jobs)")
    p.add_argument("--corrections-zip", help="instead of --store: a training-data zip exported on the Review page")
    p.add_argument("--data", help="base training data (manifest.csv) mixed in so the model does not forget; "
                                  "its val split decides, its test split is reported")
    p.add_argument("--epochs", type=int, help="default: the fine-tune's own (retraining.FINE_TUNE_EPOCHS, or "
                                              "SPARED_EPOCHS at a site whose drawing convention is honoured)")
    p.add_argument("--size", type=int, help="override the input size")
    p.add_argument("--max-steps", type=int, help="stop after N steps (smoke tests)")
    p.add_argument("--job-dir", help="where progress.json, log and intermediate files go")
    p.add_argument("--then-all-epochs", type=int,
                   help="once the gate recommends, train this many more epochs with every correction, at a tenth "
                        "of the LR, more base images replayed, encoder frozen (default 1, chosen on bench/loop.py; "
                        "0 turns it off)")
    p.add_argument("--started-by", help=argparse.SUPPRESS)  # set by the app, which audits the start itself
    p.set_defaults(func=_cmd_retrain)


def _add_people_commands(sub: Any) -> None:
    """users, promote, rollback."""
    p = sub.add_parser("users", help="user accounts: list, add, disable, enable, reset-password, roles")
    p.add_argument("action", choices=("list", "add", "disable", "enable", "reset-password", "roles", "link"))
    p.add_argument("--email",
                   help="link: the (verified) identity-provider e-mail address that may sign in as this user")
    p.add_argument("username", nargs="?", help="user name (an e-mail address for identity-provider sign-in)")
    p.add_argument("--roles", default="annotator", help="comma-separated: annotator, reviewer, admin")
    p.add_argument("--display-name")
    p.add_argument("--no-password", action="store_true", help="add: identity-provider sign-in only")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (default: print a one-time password)")
    p.add_argument("--reason", help="kept in the audit log")
    p.add_argument("--store", help="store folder (default: $LUNGSEG_STORE or store/)")
    p.set_defaults(func=_cmd_users)

    for name, helptext in (("promote", "make a model version the default for every user"),
                           ("rollback", "return to an earlier default model")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("name", help="model name (see `models`)")
        p.add_argument("--reason", required=True, help="why (kept with the history and in the audit log)")
        p.add_argument("--store", help="store folder whose audit log records it (default: $LUNGSEG_STORE or store/)")
        if name == "promote":
            p.add_argument("--against-gate", action="store_true",
                           help="promote a version its retraining gate did not recommend (said in the history)")
        p.set_defaults(func=_cmd_promote)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lungseg_core", description="LungSeg Studio engine")
    sub = parser.add_subparsers(dest="command", required=True)
    names = ", ".join(registered_names())
    _add_training_commands(sub, names)
    _add_model_commands(sub, names)
    _add_people_commands(sub)
    from .worklist_cli import add_commands
    from .store_cli import add_commands as add_store_commands
    from .pacs_cli import add_commands as add_pacs_commands

    add_commands(sub)
    add_store_commands(sub)
    add_pacs_commands(sub)
    p = sub.add_parser("models", help="list registered models and whether their weights are present")
    p.add_argument("--weights-dir")
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "users" and args.action != "list" and not args.username:
        print("error: give the user name", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (LungSegError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
