"""The house drawn from its own imports: modules per layer, imports that run upward, cycles, imports
inside functions, the longest functions.

Layers, bottom to top (a module may import its own layer or lower ones):

    0 errors, storage         shared plumbing (database, files, jobs)
    1 imaging                 pixels only
    2 people                  accounts, roles, audit
    3 models                  networks, weights, versions
    4 workflow                cases, corrections, worklist
    5 learning, pacs          training, retraining, gates; the hospital's PACS (DICOMweb, SEG, SR)
    6 cli                     lungseg_core's command line (cli, *_cli, __main__, __init__)
    7 lungseg_app             Streamlit glue
    8 pages, app              the pages

    .venv/bin/python tools/import_graph.py [--verbose]
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"errors": 0, "storage": 0, "imaging": 1, "people": 2, "models": 3, "workflow": 4, "learning": 5, "pacs": 5,
          "cli": 6, "lungseg_app": 7, "pages": 8}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if parts[0] == "lungseg_core":
        if len(parts) == 1 or parts[1] not in LAYERS or parts[1] == "cli":  # cli, *_cli, __main__
            return "cli", LAYERS["cli"]
        return parts[1], LAYERS[parts[1]]
    if parts[0] == "lungseg_app":
        return "lungseg_app", LAYERS["lungseg_app"]
    return "pages", LAYERS["pages"]


def product_files() -> list[Path]:
    files = sorted((ROOT / "lungseg_core").rglob("*.py")) + sorted((ROOT / "lungseg_app").rglob("*.py"))
    return files + sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]


def resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module.split(".")
    if node.level:
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [f"{target}.{a.name}" for a in node.names] + [target]


def project_imports(known: set[str]) -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """Module -> project modules it imports; and (module, target, line) for imports inside functions."""
    edges: dict[str, set[str]] = defaultdict(set)
    inner: list[tuple[str, str, int]] = []
    for path in product_files():
        module = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        inside: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            for name in resolve(module, node, path.name == "__init__.py"):
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges[module].add(name)
                    if id(node) in inside:
                        inner.append((module, name, node.lineno))
    return edges, inner


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def longest_functions(n: int = 5) -> list[tuple[int, str]]:
    found = []
    for path in product_files():
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((fn.end_lineno - fn.lineno + 1, f"{module_name(path)}.{fn.name}"))
    return sorted(found, reverse=True)[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    known = {module_name(p) for p in product_files()}
    edges, inner = project_imports(known)
    per_layer: dict[str, int] = defaultdict(int)
    for m in known:
        per_layer[layer_of(m)[0]] += 1
    upward = [(a, b) for a, targets in edges.items() for b in targets if layer_of(b)[1] > layer_of(a)[1]]
    found = cycles(edges)
    print("modules per layer: " + ", ".join(f"{k} {per_layer[k]}" for k in sorted(per_layer, key=LAYERS.get)))
    print(f"imports between project modules: {sum(len(v) for v in edges.values())}")
    print(f"imports that run upward: {len(upward)}")
    for a, b in sorted(upward):
        print(f"  {a} -> {b}")
    print(f"cycles: {len(found)}")
    for c in found:
        print("  " + " <-> ".join(c))
    print(f"imports of project modules inside functions: {len(inner)}")
    if args.verbose:
        for m, t, line in sorted(inner):
            print(f"  {m}:{line} -> {t}")
    print("longest functions: " + "; ".join(f"{name} {lines} lines" for lines, name in longest_functions()))


if __name__ == "__main__":
    main()
