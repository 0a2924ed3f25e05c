"""The shape of the code (AGENTS.md, "Import rules"): what import-linter checks in `make test`, and what
it cannot: no import cycle among ledgerlink modules counting imports inside functions, Ledgerlink
imports at module top, no module named with a hyphen, the QBO client free of the database."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from django.core.management import ManagementUtility, call_command, get_commands

import ledgerlink
from ledgerlink.cli import command_argv

ROOT = Path(__file__).resolve().parents[3]
SRC = Path(ledgerlink.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _python_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*.py")) if "migrations" not in p.parts]


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected components (Tarjan) of the module import graph grimp builds, which
    counts every import statement of a module, those inside functions included."""
    graph = grimp.build_graph(package, cache_dir=None)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # iterative enough: the graph is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                cycles.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycle_among_ledgerlink_modules_counting_imports_inside_functions():
    assert import_cycles("ledgerlink") == []


def test_the_cycle_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclepkg import b\n    return b\n")
    (package / "b.py").write_text("from cyclepkg import a\n")
    (package / "c.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b"]]


def _nested_imports(path: Path) -> list[str]:
    """Ledgerlink / qbo_sandbox imports made inside a function or class body."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                names = [inner.module or ""]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            if any(n.split(".")[0] in ("ledgerlink", "qbo_sandbox") for n in names):
                found.append(f"{path.relative_to(SRC.parent)}:{inner.lineno}")
    return found


def test_ledgerlink_imports_are_at_module_top():
    assert [hit for path in _python_files(SRC) for hit in _nested_imports(path)] == []


def test_no_module_is_named_with_a_hyphen():
    bad = [str(p.relative_to(ROOT)) for p in _python_files(SRC) + _python_files(ROOT / "tests")
           if not p.stem.isidentifier()]
    assert bad == []


def test_the_transitional_service_lookup_is_gone():
    hits = [str(p.relative_to(SRC.parent)) for p in _python_files(SRC) if "core_function" in p.read_text()]
    assert hits == []


STATE_WRITES = re.compile(r"(?<!self)\.state\s*=(?!=)|\bstate\s*=\s*S\.|update\([^)]*\bstate=|SET state\b", re.S)


def test_only_the_outbox_writes_push_request_states():
    """Every change of ``PushRequest.state`` is ``ledgerlink.domain.outbox``'s (the worker records
    through it). Reads (``filter(state=...)``) are fine anywhere."""
    for write in ('pr.state = S.FAILED', 'PushRequest.objects.filter(pk=1).update(lease_owner="", state="failed")',
                  "UPDATE core_pushrequest SET state = 'sending'", "fields.update(state=S.RETRYING)"):
        assert STATE_WRITES.search(write), write  # the check sees each way of writing a state
    outbox = SRC / "domain" / "outbox"
    hits = []
    for path in _python_files(SRC):
        if outbox in path.parents:
            continue
        text = re.sub(r"filter\([^()]*\)|exclude\([^()]*\)", "", path.read_text())  # reads
        hits += [f"{path.relative_to(SRC.parent)}: {m.group(0)}" for m in STATE_WRITES.finditer(text)]
    assert hits == []


def test_the_qbo_client_uses_no_database():
    """"Imports no models": beyond the contracts on ledgerlink.*, nothing of django.db / django.apps."""
    hits = []
    for path in _python_files(SRC / "quickbooks"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""] if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            )
            hits += [f"{path.name}: {n}" for n in names if n.startswith(("django.db", "django.apps", "django.contrib"))]
    assert hits == []


def test_lint_imports_fails_on_a_broken_contract(tmp_path):
    """`make test` runs lint-imports; a contract the code breaks makes it fail (exit 1, BROKEN)."""
    config = tmp_path / "broken.toml"
    config.write_text(
        "[tool.importlinter]\nroot_packages = [\"ledgerlink\"]\n\n"
        "[[tool.importlinter.contracts]]\nname = \"the worker imports no domain code (false)\"\n"
        "type = \"forbidden\"\nsource_modules = [\"ledgerlink.worker\"]\nforbidden_modules = [\"ledgerlink.domain\"]\n"
    )
    run = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "BROKEN" in run.stdout and "0 kept, 1 broken" in run.stdout


def test_the_project_contracts_are_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    for name in ("qbo_sandbox imports nothing from ledgerlink", "Models import no services",
                 "Domain packages in layers", "The QBO client imports no models",
                 "Nothing imports the worker, the API, the web app or the commands"):
        assert name in text


@pytest.mark.django_db
def test_models_match_their_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # SystemExit(1) on a change


def test_each_command_is_listed_once_and_the_hyphenated_spellings_work():
    listed = ManagementUtility(["ledgerlink"]).main_help_text().split("[cli]")[1].split("[")[0].split()
    assert listed == ["backup", "connect", "create_api_token", "createsuperuser", "flush", "import_orders", "prune",
                      "reconcile", "restore", "rotate_keys", "run_demo", "send_digests", "status", "sync", "worker"]
    commands = get_commands()
    assert commands["createsuperuser"] == commands["flush"] == "ledgerlink.cli"  # ours (NFKC names; audit triggers)
    for spelled in ("create-api-token", "import-orders", "rotate-keys", "send-digests", "run-demo"):
        (name,) = command_argv([spelled])
        assert commands[name] == "ledgerlink.cli"
    assert command_argv(["help", "create-api-token"]) == ["help", "create_api_token"]
    assert command_argv(["import-orders", "my-file.csv", "--no-progress"]) == [
        "import_orders", "my-file.csv", "--no-progress"]


def test_the_console_script_runs_a_hyphenated_command():
    run = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "help", "create-api-token"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Create an API token for USERNAME" in run.stdout
