"""The package layout keeps its promises: lower packages never import higher ones, no module
reaches into another module's private names, and every file stays one readable concept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "chainrule"

#: package -> rank; a module may import chainrule modules of a LOWER rank or of its own package
RANK = {
    "validation": 0,
    "data": 1,
    "nn": 2,
    "optim": 3,
    "io": 4,
    "fast": 5,
    "train": 6,
    "model": 7,
    "learn": 8,
    "sklearn": 9,
    "plots": 9,
    "cli": 10,
    "playground": 9,
}
#: the top-level package and the table of old import paths sit above everything
EXEMPT = {"__init__", "_compat"}
#: ``import chainrule`` / ``from chainrule import X``: the whole public API, for the CLI only
TOP = 9.5


def _package(module: str) -> str:
    """'chainrule.nn.dense' -> 'nn'; 'chainrule' -> '' (the top-level package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported chainrule module, names) for every import, module-level or local."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "chainrule":
                    found.append((node.lineno, alias.name, []))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "chainrule":
                found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def _own_package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_package_has_a_rank() -> None:
    packages = {_own_package(p) for p in _modules()} - EXEMPT
    assert packages == set(RANK), packages ^ set(RANK)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_packages_never_import_higher_ones(path: Path) -> None:
    mine = _own_package(path)
    if mine in EXEMPT:
        return
    for line, module, names in _imports(path):
        target = _package(module)
        if target == "":  # `from chainrule import X` / `import chainrule`
            targets = [n for n in names if n in RANK] if names else []
            ranks = [RANK[t] for t in targets] + ([TOP] if not names else [])
        else:
            targets, ranks = [target], [RANK.get(target, TOP)]
        for t, rank in zip(targets or ["chainrule"], ranks):
            if t == mine:
                continue
            assert rank < RANK[mine], (
                f"{path.relative_to(ROOT)}:{line} ({mine}, rank {RANK[mine]}) imports {module} "
                f"{names} (rank {rank}): lower packages never import higher ones"
            )


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_imported_across_modules(path: Path) -> None:
    for line, module, names in _imports(path):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        if _own_package(path) == "_compat" or module == "chainrule" and names == ["_compat"]:
            continue
        assert not private, f"{path.relative_to(ROOT)}:{line} imports {private} from {module}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_over_400_lines(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 400, f"{path.relative_to(ROOT)} has {n} lines"


def test_one_integer_check() -> None:
    """Integer arguments are checked by validation.check_int alone (no copies of its guard)."""
    copies = []
    for path in _modules():
        rel = str(path.relative_to(ROOT))
        for line in path.read_text(encoding="utf-8").splitlines():
            if "isinstance(" in line and ", bool)" in line and "np.integer)" in line:
                if rel != "validation.py" and "float" not in line:
                    copies.append(f"{rel}: {line.strip()}")
    assert copies == [], "\n".join(copies)
