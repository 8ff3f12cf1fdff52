"""GitHub Actions workflows validate against the GitHub workflow JSON schema (the copy that
check-jsonschema vendors: no network), and the release workflow publishes as intended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK = Path(sys.executable).with_name("check-jsonschema")


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_matches_the_schema(path: Path) -> None:
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert validate(broken).returncode != 0


def test_release_builds_checks_installs_and_publishes_with_trusted_publishing() -> None:
    assert (ROOT / ".github" / "workflows" / "release.yml") in WORKFLOWS
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert flow[True]["push"]["tags"]  # PyYAML reads the key "on" as True
    runs = " ".join(s.get("run", "") for s in flow["jobs"]["build"]["steps"])
    assert "uv build --all-packages" in runs
    assert "twine check" in runs
    assert "--no-index --find-links dist" in runs
    publish = flow["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    uses = [s.get("uses", "") for s in publish["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    assert "password" not in str(publish)  # trusted publishing: no token
