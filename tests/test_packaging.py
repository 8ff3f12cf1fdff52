"""Packaging: the wheels that a release would publish.

Every workspace member is built once per session (``uv build --all-packages --wheel`` into a
temporary directory), then each wheel is checked:

- lockstep: one version for the family, and every sibling requirement pinned ``==`` to it;
- the MIT LICENSE is inside every wheel;
- declared dependencies are exactly what the wheel's modules import (ast over its .py files):
  a module under an extra's subpackage is covered by that extra, the rest by the base list;
- a missing extra names the ``pip install "funcpipe-adapters[...]"`` to run;
- funcpipe-testing imports without pytest (pytest is the ``[pytest]`` extra);
- the README's install from this repository works: wheels in a folder, then
  ``pip install --no-index --find-links DIR funcpipe-streams`` in a fresh venv.
"""

from __future__ import annotations

import ast
import email
import email.message
import functools
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")])

# Modules (path prefixes inside the wheel) that only an extra's dependencies may serve.
EXTRA_MODULES: dict[str, dict[str, str]] = {
    "funcpipe-adapters": {
        "funcpipe/adapters/edge/": "edge",
        "funcpipe/adapters/embed/": "embed",
        "funcpipe/adapters/files/": "files",
        "funcpipe/adapters/http/": "http",
        "funcpipe/adapters/qdrant/": "qdrant",
        "funcpipe/adapters/dask/": "dask",
    },
    "funcpipe-testing": {"funcpipe/testing/pytest_plugin.py": "pytest"},
    "funcpipe-rag": {"funcpipe_rag/worker.py": "dask", "funcpipe_rag/adapters/_dask.py": "dask"},
}
# Extras that only gather other extras of the same distribution.
AGGREGATE_EXTRAS = {("funcpipe-adapters", "all")}
# Adapters subpackages named as their extra: importing funcpipe.adapters.<sub> needs [<sub>].
ADAPTER_SUBPACKAGES = {"dask", "edge", "embed", "files", "http", "qdrant"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def uv_command() -> list[str]:
    """uv as the Makefile found it (``UV``), else on PATH, else ``python3 -m uv``."""
    if os.environ.get("UV"):
        return shlex.split(os.environ["UV"])
    found = shutil.which("uv")
    if found:
        return [found]
    python3 = shutil.which("python3") or sys.executable
    return [python3, "-m", "uv"]


# --- the wheels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    name: str
    extras: frozenset[str]
    specifier: str
    marker_extra: str | None  # the extra this requirement belongs to, None for the base list


_REQ = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<spec>[^;]*)"
    r"(?:;\s*(?P<marker>.*))?$"
)


def parse_requirement(line: str) -> Requirement:
    m = _REQ.match(line.strip())
    assert m, line
    marker = m.group("marker") or ""
    extra = re.fullmatch(r"""extra\s*==\s*['"]([^'"]+)['"]""", marker.strip())
    assert not marker or extra, f"unexpected marker in {line!r}"
    extras = frozenset(e.strip() for e in (m.group("extras") or "").split(",") if e.strip())
    return Requirement(
        normalize(m.group("name")),
        extras,
        m.group("spec").strip(),
        extra.group(1) if extra else None,
    )


@dataclass
class Wheel:
    path: Path
    metadata: email.message.Message
    files: dict[str, bytes] = field(repr=False)

    @property
    def name(self) -> str:
        return normalize(str(self.metadata["Name"]))

    @property
    def version(self) -> str:
        return str(self.metadata["Version"])

    @property
    def requirements(self) -> list[Requirement]:
        return [parse_requirement(r) for r in self.metadata.get_all("Requires-Dist") or []]

    @property
    def extras(self) -> list[str]:
        return list(self.metadata.get_all("Provides-Extra") or [])


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    meta = next(n for n in files if n.endswith(".dist-info/METADATA"))
    return Wheel(path, email.message_from_bytes(files[meta]), files)


@pytest.fixture(scope="session")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [*uv_command(), "build", "--all-packages", "--wheel", "--quiet", "-o", str(out)],
        cwd=ROOT,
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def wheels(wheel_dir: Path) -> dict[str, Wheel]:
    built = {w.name: w for w in map(read_wheel, sorted(wheel_dir.glob("*.whl")))}
    expected = {normalize(tomllib.loads(p.read_text())["project"]["name"]) for p in MEMBERS}
    assert set(built) == expected
    return built


# --- lockstep versions -----------------------------------------------------------------------


def test_the_family_has_one_version_and_pins_siblings_exactly(wheels: dict[str, Wheel]) -> None:
    versions = {w.name: w.version for w in wheels.values()}
    assert len(set(versions.values())) == 1, versions
    (version,) = set(versions.values())
    for wheel in wheels.values():
        for req in wheel.requirements:
            if req.name.startswith("funcpipe-") and req.name != wheel.name:
                assert req.specifier == f"=={version}", (wheel.name, req)


def test_set_version_moves_every_version_and_pin_together(tmp_path: Path) -> None:
    for path in MEMBERS:
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(path, target)
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "set-version"), "--root", str(tmp_path), "9.8.7"],
        check=True,
        capture_output=True,
    )
    for path in MEMBERS:
        project = tomllib.loads((tmp_path / path.relative_to(ROOT)).read_text())["project"]
        assert project["version"] == "9.8.7"
        deps = [*project["dependencies"]]
        deps += [d for ds in project.get("optional-dependencies", {}).values() for d in ds]
        for req in map(parse_requirement, deps):
            if req.name.startswith("funcpipe-") and req.name != normalize(project["name"]):
                assert req.specifier == "==9.8.7", (path, req)


# --- LICENSE ---------------------------------------------------------------------------------


def test_every_wheel_carries_the_mit_license(wheels: dict[str, Wheel]) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in license_text
    for wheel in wheels.values():
        licenses = [n for n in wheel.files if re.search(r"\.dist-info/licen[cs]es/LICENSE$", n)]
        assert licenses, f"{wheel.path.name} has no LICENSE"
        assert wheel.files[licenses[0]] == license_text, wheel.name
        assert wheel.metadata["License-Expression"] == "MIT", wheel.name


# --- declared dependencies == imports --------------------------------------------------------


def imported_names(source: bytes) -> Iterator[str]:
    """Absolute imports of a module (``funcpipe.X`` kept two-deep, others top-level)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            yield ".".join(parts[:3]) if parts[0] == "funcpipe" else parts[0]


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def distribution_of(import_name: str, own: str) -> str | None:
    """The distribution an import comes from; None for the stdlib and the wheel itself."""
    top = import_name.split(".")[0]
    if top in sys.stdlib_module_names:
        return None
    if top == "funcpipe":
        return normalize("funcpipe-" + import_name.split(".")[1])
    dists = _packages_distributions().get(top)
    assert dists, f"{own}: no installed distribution provides {top!r}"
    return normalize(dists[0])


def extra_of(wheel: Wheel, module_path: str) -> str | None:
    for prefix, extra in EXTRA_MODULES.get(wheel.name, {}).items():
        if module_path.startswith(prefix):
            return extra
    return None


def own_top_levels(wheel: Wheel) -> set[str]:
    return {
        n.split("/")[0]
        for n in wheel.files
        if n.endswith(".py") and n.split("/")[0] != "funcpipe"  # the namespace is shared
    }


@pytest.mark.parametrize(
    "name",
    [normalize(tomllib.loads(p.read_text())["project"]["name"]) for p in MEMBERS],
)
def test_declared_dependencies_are_exactly_the_imports(wheels: dict[str, Wheel], name: str) -> None:
    wheel = wheels[name]
    own_dist = wheel.name
    own_tops = own_top_levels(wheel)
    # needed[extra or None] = distributions imported by modules that extra (or the base) serves
    needed: dict[str | None, set[str]] = {None: set()}
    adapter_extras_needed: set[str] = set()
    extra_adapters_needed: dict[str | None, set[str]] = {}
    for path, data in wheel.files.items():
        if not path.endswith(".py"):
            continue
        extra = extra_of(wheel, path)
        for imported in imported_names(data):
            if imported.split(".")[0] in own_tops:
                continue
            dist = distribution_of(imported, own_dist)
            if dist is None or dist == own_dist:
                continue
            needed.setdefault(extra, set()).add(dist)
            parts = imported.split(".")
            sub = parts[2] if parts[:2] == ["funcpipe", "adapters"] and len(parts) > 2 else ""
            if sub in ADAPTER_SUBPACKAGES and extra is None:
                adapter_extras_needed.add(sub)
            elif sub in ADAPTER_SUBPACKAGES:  # an extra of ours enabling an adapters extra
                extra_adapters_needed.setdefault(extra, set()).add(sub)

    declared: dict[str | None, set[str]] = {None: set()}
    requires_adapters_extras: set[str] = set()
    extra_adapters: dict[str | None, set[str]] = {}
    for req in wheel.requirements:
        if req.name == own_dist:  # an aggregate extra naming the distribution's own extras
            continue
        declared.setdefault(req.marker_extra, set()).add(req.name)
        if req.name == "funcpipe-adapters" and req.marker_extra is None:
            requires_adapters_extras |= req.extras
        elif req.name == "funcpipe-adapters" and req.marker_extra is not None:
            extra_adapters.setdefault(req.marker_extra, set()).update(req.extras)
    for extra in wheel.extras:
        declared.setdefault(extra, set())

    aggregates = {e for (d, e) in AGGREGATE_EXTRAS if d == own_dist}
    for extra in aggregates:
        union = set().union(*(v for k, v in declared.items() if k and k not in aggregates))
        assert declared.pop(extra) == union, f"{name}[{extra}] must be every other extra"

    # Base: exactly what the base modules import.
    assert declared[None] == needed[None], f"{name}: base dependencies"
    # Each extra: exactly what its modules import beyond the base.
    assert set(declared) - {None} == set(needed) - {None}, f"{name}: extras vs subpackages"
    for extra in set(declared) - {None}:
        subs = extra_adapters_needed.get(extra, set()) - requires_adapters_extras
        enables = {"funcpipe-adapters"} if subs else set()
        want = (needed[extra] - declared[None]) | enables
        assert declared[extra] == want, f"{name}[{extra}]"
        assert subs <= extra_adapters.get(extra, set()), f"{name}[{extra}] adapters extras"
    # Importing an optional adapters subpackage needs its extra.
    if "all" not in requires_adapters_extras:
        assert adapter_extras_needed <= requires_adapters_extras, name


# --- a missing extra names its install -------------------------------------------------------

_BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    try:
        import {module}
    except ModuleNotFoundError as error:
        print(error)
    else:
        print("IMPORTED")
    """
)

EXTRA_IMPORTS = [
    ("files", "aiofiles"),
    ("http", "httpx"),
    ("qdrant", "qdrant_client"),
    ("qdrant", "httpx"),
    ("edge", "qdrant_edge"),
    ("embed", "wordllama"),
    ("embed", "numpy"),
    ("embed", "tokenizers"),
    ("embed", "safetensors"),
    ("dask", "distributed"),
]


def run_blocked(module: str, blocked: str) -> str:
    code = _BLOCK.format(module=module, blocked=blocked)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


@pytest.mark.parametrize(("extra", "blocked"), EXTRA_IMPORTS)
def test_a_missing_extra_names_the_pip_install(extra: str, blocked: str) -> None:
    out = run_blocked(f"funcpipe.adapters.{extra}", blocked)
    assert f'pip install "funcpipe-adapters[{extra}]"' in out, out
    assert repr(blocked) in out, out


def test_the_block_itself_lets_an_import_through_when_nothing_is_missing() -> None:
    # The simulation is not what makes the test above pass: with an unrelated module blocked,
    # the subpackage imports.
    assert run_blocked("funcpipe.adapters.files", "no_such_module_xyz") == "IMPORTED"


def test_funcpipe_testing_imports_without_pytest(wheels: dict[str, Wheel]) -> None:
    assert run_blocked("funcpipe.testing", "pytest") == "IMPORTED"
    out = run_blocked("funcpipe.testing.pytest_plugin", "pytest")
    assert "pytest" in out, out
    entry_points = next(
        data.decode()
        for path, data in wheels["funcpipe-testing"].files.items()
        if path.endswith(".dist-info/entry_points.txt")
    )
    # pytest reads pytest11 entry points only when pytest runs; the plugin is there for it.
    assert re.search(
        r"\[pytest11\]\s+funcpipe_testing = funcpipe\.testing\.pytest_plugin", entry_points
    )
    assert any(
        r.name == "pytest" and r.marker_extra == "pytest"
        for r in wheels["funcpipe-testing"].requirements
    )


# --- installing from the built wheels (the README's "from this repository") ------------------


def test_a_fresh_venv_installs_one_package_from_the_built_wheels(
    wheel_dir: Path, tmp_path: Path
) -> None:
    # uv's venv and installer stand in for ``python -m venv`` and pip (same resolution from a
    # folder of wheels, a fraction of the time); nothing is fetched: --no-index.
    venv = tmp_path / "venv"
    uv = uv_command()
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--no-index",
            "--find-links",
            str(wheel_dir),
            "funcpipe-streams",
        ],
        check=True,
    )
    listed = subprocess.run(
        [*uv, "pip", "freeze", "--python", str(python)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = {normalize(line.split("==")[0]) for line in listed.split() if "==" in line}
    assert installed == {
        "funcpipe-result",
        "funcpipe-policies",
        "funcpipe-async-plan",
        "funcpipe-streams",
    }
    subprocess.run(
        [
            str(python),
            "-c",
            "from funcpipe.streams import AsyncGen; from funcpipe.result import Ok",
        ],
        check=True,
    )
