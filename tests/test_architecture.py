"""The rules of docs/architecture.md that a machine can check, read from the source
with ``ast`` (nothing under ``src`` is executed, except the import-time test, which
imports the package in a subprocess of its own).

* layering: the foundation imports no capability; capabilities never import the
  composition (app, cli, pipeline, demo); a capability never imports another one's
  ``api``, ``store``, ``cli`` or ``writer``; lower capabilities never import higher ones;
* no ``eval``/``exec``/``pickle``/``marshal``, no ``yaml.load`` without SafeLoader, no
  ``shell=True``;
* no module longer than 450 lines;
* nothing happens at import time (no file, no engine, no thread).

import-linter (``pyproject.toml``, run by ``scripts/check``) checks the same layers
on the import graph; this test keeps the rules readable and runs with the suite.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "surmesure"
MAX_LINES = 450

FOUNDATION = frozenset({"errors", "config", "clock", "ids", "db", "http", "deps", "migrations"})
#: capabilities and their rank: a capability may import only capabilities of a lower rank
# access authenticates every route, so it sits below the other capabilities
# segments (conditions on profiles and events) sit above both; recommendations serve a
# person from their events, profile and segments, so they sit above segments
# experiments (A/B tests, bandits, off-policy evaluation) are a sibling of recommendations
CAPABILITY_RANK = {
    "access": 0,
    "consent": 1,
    "catalog": 1,
    "events": 2,
    "profiles": 3,
    "segments": 4,
    "recommendations": 5,
    "experiments": 5,
    "decisions": 6,
    "privacy": 8,  # exports and erases a person from every capability below it
    "audit": 7,
    "preferences": 9,  # the preference centre: consent, links, "why" over the logs below it
}
COMPOSITION = frozenset({"app", "cli", "pipeline", "demo"})
#: the edges and internals of a capability that no other capability may import
PRIVATE_ROLES = frozenset({"api", "store", "cli", "writer"})


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name, resolved to a submodule where one exists

    def where(self) -> str:
        return f"{_where(self.path)}:{self.line}"


def _where(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _known_modules() -> frozenset[str]:
    return frozenset(_module_name(p) for p in _python_files())


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(path: Path) -> list[Import]:
    """Every ``import`` in the file, at any depth (function-level imports count too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                # ``from surmesure.events import store`` imports the module events.store
                found.append(Import(path, node.lineno, candidate if candidate in _known_modules() else base))
    return [imp for imp in found if imp.module == "surmesure" or imp.module.startswith("surmesure.")]


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _role(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else None


def _owner(path: Path) -> str | None:
    return _top(_module_name(path))


def test_the_layered_modules_exist() -> None:
    """A rule about a module that is not there checks nothing: keep the lists in step."""
    tops = {_top(m) for m in _known_modules()} - {None}
    assert tops >= FOUNDATION, f"foundation modules missing: {sorted(FOUNDATION - tops)}"
    assert tops >= set(CAPABILITY_RANK), f"capabilities missing: {sorted(set(CAPABILITY_RANK) - tops)}"
    unclassified = tops - FOUNDATION - set(CAPABILITY_RANK) - COMPOSITION - {"health"}
    assert not unclassified, (
        f"modules {sorted(unclassified)} are in no layer of tests/test_architecture.py: "
        "add each to the foundation, the capabilities (with a rank) or the composition"
    )


def test_the_foundation_imports_no_capability_nor_composition() -> None:
    violations = sorted(
        {
            f"{imp.where()} imports {imp.module}"
            for path in _python_files()
            if _owner(path) in FOUNDATION
            for imp in _imports(path)
            if _top(imp.module) not in FOUNDATION and _top(imp.module) is not None
        }
    )
    assert not violations, "the foundation must import only the foundation:\n" + "\n".join(violations)


def test_capabilities_never_import_the_composition() -> None:
    violations = [
        f"{imp.where()} imports {imp.module}"
        for path in _python_files()
        if _owner(path) in CAPABILITY_RANK
        for imp in _imports(path)
        if _top(imp.module) in COMPOSITION
    ]
    assert not violations, "a capability never imports app, cli, pipeline or demo:\n" + "\n".join(violations)


def test_a_capability_reaches_another_only_through_its_service_or_domain() -> None:
    violations = [
        f"{imp.where()} imports {imp.module}"
        for path in _python_files()
        if _owner(path) in CAPABILITY_RANK
        for imp in _imports(path)
        if _top(imp.module) in CAPABILITY_RANK
        and _top(imp.module) != _owner(path)
        and _role(imp.module) in PRIVATE_ROLES
    ]
    assert not violations, (
        "another capability's api, store, cli or writer is private; use its service or domain:\n"
        + "\n".join(violations)
    )


def test_lower_capabilities_never_import_higher_ones() -> None:
    violations = []
    for path in _python_files():
        owner = _owner(path)
        if owner not in CAPABILITY_RANK:
            continue
        for imp in _imports(path):
            target = _top(imp.module)
            if (
                target in CAPABILITY_RANK
                and target != owner
                and CAPABILITY_RANK[target] >= CAPABILITY_RANK[owner]
            ):
                violations.append(f"{imp.where()} imports {imp.module} ({owner} may not import {target})")
    assert not violations, (
        "layers: access < consent | catalog < events < profiles; siblings are independent:\n"
        + "\n".join(violations)
    )


# -- dangerous constructs ------------------------------------------------------------

_FORBIDDEN_CALLS = {"eval", "exec"}
_FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _safe_loader(call: ast.Call) -> bool:
    loaders = [kw.value for kw in call.keywords if kw.arg == "Loader"] + call.args[1:2]
    return any(_dotted(value).rsplit(".", 1)[-1] in ("SafeLoader", "CSafeLoader") for value in loaders)


def _dangers(tree: ast.AST, where: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _FORBIDDEN_MODULES:
                    found.append(f"{where}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if (node.module or "").split(".")[0] in _FORBIDDEN_MODULES:
                found.append(f"{where}:{node.lineno} imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _FORBIDDEN_CALLS or name in {f"builtins.{c}" for c in _FORBIDDEN_CALLS}:
                found.append(f"{where}:{node.lineno} calls {name}()")
            if name.endswith("yaml.unsafe_load") or (
                name.endswith(("yaml.load", "yaml.load_all")) and not _safe_loader(node)
            ):
                found.append(f"{where}:{node.lineno} calls {name}() without SafeLoader")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{where}:{node.lineno} passes shell={ast.unparse(kw.value)}")
    return found


def test_no_eval_exec_pickle_marshal_unsafe_yaml_or_shell() -> None:
    found = [danger for path in _python_files() for danger in _dangers(_tree(path), _where(path))]
    assert not found, "forbidden constructs in src:\n" + "\n".join(found)


def test_the_danger_scanner_sees_what_it_forbids() -> None:
    """The scanner itself, on code that does every forbidden thing (and two safe calls)."""
    sample = textwrap.dedent(
        """
        import pickle, yaml, subprocess
        from marshal import loads
        eval("1")
        exec("x = 1")
        yaml.load(text)
        yaml.load(text, Loader=yaml.SafeLoader)
        subprocess.run("ls", shell=True)
        subprocess.run(["ls"], shell=False)
        conn.exec_driver_sql("BEGIN")
        """
    )
    found = _dangers(ast.parse(sample), "sample")
    assert [f.split(" ", 1)[1] for f in found] == [
        "imports pickle",
        "imports from marshal",
        "calls eval()",
        "calls exec()",
        "calls yaml.load() without SafeLoader",
        "passes shell=True",
    ]


# -- size ------------------------------------------------------------------------------


def test_no_module_is_longer_than_450_lines() -> None:
    long = {
        str(path.relative_to(SRC.parent)): n
        for path in _python_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, (
        f"modules over {MAX_LINES} lines (a role file that grows becomes a package): "
        + ", ".join(f"{p} ({n} lines)" for p, n in sorted(long.items()))
    )


# -- import time -----------------------------------------------------------------------

_IMPORT_EVERYTHING = """
import gc, importlib, pkgutil, sys, threading
import surmesure
names = [m.name for m in pkgutil.walk_packages(surmesure.__path__, "surmesure.")
         if not m.name.startswith("surmesure.migrations")]
for name in ["surmesure.app", *names]:
    importlib.import_module(name)
import sqlalchemy
engines = [o for o in gc.get_objects() if isinstance(o, sqlalchemy.engine.Engine)]
threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
print(len(names), len(engines), threads)
"""


def test_nothing_happens_at_import_time(tmp_path: Path) -> None:
    """Importing ``surmesure.app`` (and every other module) creates no file, no engine
    and no thread: settings and engines are built in composition roots only."""
    cwd = tmp_path / "cwd"
    home = tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SURMESURE_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(home), PYTHONPATH=str(SRC), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules, engines, threads = result.stdout.split(" ", 2)
    assert int(modules) > 10
    assert int(engines) == 0, "an SQLAlchemy engine was created at import time"
    assert threads.strip() == "[]", f"threads started at import time: {threads.strip()}"
    created = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p not in (cwd, home))
    assert created == [], f"importing surmesure created files: {created}"
