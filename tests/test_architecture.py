"""Architecture: import contracts hold and can fail, public names match the docs, namespace
package layout, py.typed everywhere.

Every import-linter contract is proved able to fail: the source trees are copied to a temporary
directory, a violating import is added there (never in the real tree), and lint-imports is run
on the copy with the real config, first on the sys.path, for that one contract.
"""

from __future__ import annotations

import configparser
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "importlinter.ini"
API_MD = ROOT.parent / "shared" / "design" / "api.md"
SRC_TREES = sorted([*ROOT.glob("packages/*/src"), *ROOT.glob("apps/*/src")])
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


# --- import contracts --------------------------------------------------------------------


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    prefix = "importlinter:contract:"
    return {s[len(prefix) :]: parser[s] for s in parser.sections() if s.startswith(prefix)}


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _lint(cwd: Path, src: Path | None, *contracts: str) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"lint-imports not found beside {sys.executable} (dev dependency group)")
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)  # before site-packages: the copy shadows the real tree
    args = [str(LINT_IMPORTS), "--config", str(cwd / CONFIG.name), "--no-cache"]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _layer_name(entry: str) -> str:
    """First module of a layer line (``a | b`` / ``a : b`` siblings, ``(a)`` optional)."""
    return re.split(r"[|:]", entry)[0].strip().strip("()").strip()


def _module_file(src: Path, module: str) -> Path:
    """The file to append an import to; a missing module is created as a package."""
    base = src.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    base.mkdir(parents=True, exist_ok=True)
    return base / "__init__.py"


def _violations(contract: configparser.SectionProxy) -> list[tuple[str, str]]:
    """(importer, imported) pairs that the contract must refuse."""
    kind = contract.get("type")
    if kind == "layers":
        layers = [_layer_name(e) for e in _lines(contract["layers"])]
        containers = _lines(contract.get("containers", "")) or [""]
        pairs = []
        for container in containers:
            full = [f"{container}.{m}" if container else m for m in layers]
            # each layer imports the one right above it (layers are listed highest first)
            pairs += [(full[i + 1], full[i]) for i in range(len(full) - 1)]
        return pairs
    if kind == "forbidden":
        sources = _lines(contract["source_modules"])
        forbidden = _lines(contract["forbidden_modules"])
        return [(sources[k % len(sources)], f) for k, f in enumerate(forbidden)]
    if kind == "independence":
        modules = _lines(contract["modules"])
        return [(modules[i], modules[i + 1]) for i in range(len(modules) - 1)]
    pytest.fail(f"no violation generator for contract type {kind!r}: extend this test")


def test_the_real_tree_keeps_every_contract() -> None:
    result = _lint(ROOT, None)
    n = len(_contracts())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {n} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract_id", sorted(_contracts()))
def test_every_contract_can_fail(contract_id: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for tree in SRC_TREES:
        shutil.copytree(tree, src, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / CONFIG.name)
    pairs = _violations(_contracts()[contract_id])
    assert pairs, f"{contract_id}: no violation to try"
    for importer, imported in pairs:
        with _module_file(src, importer).open("a") as f:
            f.write(f"\nimport {imported}  # deliberate violation\n")

    result = _lint(tmp_path, src, contract_id)

    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Contracts: 0 kept, 1 broken." in result.stdout, out
    for importer, imported in pairs:
        assert f"{importer} is not allowed to import {imported}" in result.stdout, out
    # the real tree is untouched
    assert (
        "deliberate violation"
        not in (ROOT / "packages/result/src/funcpipe/result/__init__.py").read_text()
    )


# --- public names match the docs ---------------------------------------------------------

# The names api.md documents for each package (kept here so the test runs without the docs;
# when api.md is present, each name is checked to be in it).
DOCUMENTED: dict[str, set[str]] = {
    "funcpipe.result": {
        "Ok",
        "Err",
        "Result",
        "ErrInfo",
        "UnwrapError",
        "sequence",
        "traverse",
        "partition",
        "try_call",
        "codes",
    },
    "funcpipe.policies": {
        "RetryPolicy",
        "TimeoutPolicy",
        "BackpressurePolicy",
        "RateLimitPolicy",
        "FairnessPolicy",
        "ChunkPolicy",
        "Clock",
        "Sleep",
        "Sleeper",
        "TimeoutCtx",
        "ResilienceEnv",
        "SystemClock",
        "RealSleeper",
    },
    "funcpipe.async_plan": {
        "AsyncPlan",
        "AsyncAction",
        "async_pure",
        "async_from_result",
        "async_bind",
        "async_map",
        "async_lift",
        "async_gather",
        "async_with_resilience",
        "async_with_retry",
        "resilient_mapper",
        "lift_sync",
        "lift_sync_with_executor",
    },
    "funcpipe.streams": {
        "AsyncGen",
        "async_gen_return",
        "async_gen_from_list",
        "async_gen_map",
        "async_gen_map_action",
        "async_gen_and_then",
        "async_gen_flat_map",
        "async_gen_flatten",
        "async_gen_filter",
        "lift_async_item",
        "lift_sync_gen_with_executor",
        "async_gen_using",
        "async_gen_bounded_map",
        "async_gen_gather",
        "async_gen_chunk",
        "async_gen_rate_limited",
        "async_gen_fair_merge",
    },
}
LOWER: dict[str, list[str]] = {
    "funcpipe.result": [],
    "funcpipe.policies": ["funcpipe.result"],
    "funcpipe.async_plan": ["funcpipe.result", "funcpipe.policies"],
    "funcpipe.streams": ["funcpipe.result", "funcpipe.policies", "funcpipe.async_plan"],
}
# A doc name "looks public" when it is CamelCase or starts like a combinator.
_PUBLIC = re.compile(r"^(?:[A-Z][a-z]\w*|(?:async|lift|resilient)_\w+)$")


def _api_section(package: str) -> str | None:
    if not API_MD.is_file():
        return None
    text = API_MD.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(package)}\b.*?(?=^## |\Z)", text, re.S | re.M)
    return match.group(0) if match else None


def _doc_names(section: str) -> set[str]:
    """Leading identifiers of backticked spans that look like public names."""
    import asyncio
    import builtins
    import typing

    names = set()
    for span in re.findall(r"`([^`]+)`", section):
        head = re.match(r"[A-Za-z_]\w*", span.strip())
        if head and _PUBLIC.match(head.group(0)):
            names.add(head.group(0))
    stdlib = (builtins, typing, asyncio)  # e.g. Never, CancelledError: mentioned, not defined
    return {n for n in names if not any(hasattr(m, n) for m in stdlib)}


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("package", sorted(DOCUMENTED))
def test_documented_names_are_exported(package: str) -> None:
    module = _module(package)
    exported = set(module.__all__)
    missing = DOCUMENTED[package] - exported
    assert not missing, f"{package}.__all__ lacks documented names {sorted(missing)}"
    section = _api_section(package)
    if section is None:
        return
    for name in DOCUMENTED[package]:
        assert re.search(rf"\b{name}\b", section), f"{name} is not documented for {package}"
    below = set().union(*(set(_module(p).__all__) for p in LOWER[package]))
    undocumented_export = _doc_names(section) - exported - below
    assert not undocumented_export, (
        f"api.md names {sorted(undocumented_export)} for {package}, but __all__ lacks them"
    )


@pytest.mark.parametrize("package", sorted(DOCUMENTED))
def test_all_is_importable_and_complete(package: str) -> None:
    module = _module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names)), "duplicates in __all__"
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but not importable"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and n != "annotations" and not _is_private_submodule(v)
    }
    assert public <= set(names), f"public but not in __all__: {sorted(public - set(names))}"


def _is_private_submodule(value: object) -> bool:
    return isinstance(value, ModuleType) and value.__name__.rsplit(".", 1)[-1].startswith("_")


# --- layout ------------------------------------------------------------------------------


def test_funcpipe_is_a_namespace_package() -> None:
    offenders = [
        p.relative_to(ROOT)
        for tree in SRC_TREES
        for p in (tree / "funcpipe" / "__init__.py", tree / "funcpipe" / "__init__.pyi")
        if p.exists()
    ]
    assert offenders == []
    funcpipe = importlib.import_module("funcpipe")
    assert getattr(funcpipe, "__file__", None) is None
    assert len(list(funcpipe.__path__)) >= len(list(ROOT.glob("packages/*/src/funcpipe")))


def test_every_package_ships_py_typed() -> None:
    packages = [p for tree in SRC_TREES for p in (tree / "funcpipe").glob("*") if p.is_dir()]
    packages += [p for tree in ROOT.glob("apps/*/src") for p in tree.iterdir() if p.is_dir()]
    packages = [p for p in packages if p.name != "__pycache__" and p.name != "funcpipe"]
    assert len(packages) >= 7
    missing = [str(p.relative_to(ROOT)) for p in packages if not (p / "py.typed").is_file()]
    assert missing == []
