"""Every ```python block of the READMEs runs as written and passes mypy --strict.

A block that is intentionally not runnable (it needs a server, say) is preceded by the line
``<!-- example: not runnable -->`` in the Markdown; it is still type-checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALL_READMES = [
    ROOT / "README.md",
    *sorted(ROOT.glob("packages/*/README.md")),
    ROOT / "apps/rag/README.md",
]
# Not checked yet: their examples do not run as written yet (see the branch's report).
NOT_YET: set[Path] = set()
READMES = [r for r in ALL_READMES if r not in NOT_YET]
# Runs, but not yet mypy --strict clean (an unannotated def in the example).
MYPY_NOT_YET: set[str] = set()
BLOCK = re.compile(r"(?P<mark><!-- example: not runnable -->\n)?```python\n(?P<code>.*?)```", re.S)


def examples() -> list[tuple[str, str, bool]]:
    found = []
    for readme in READMES:
        text = readme.read_text(encoding="utf-8")
        for i, m in enumerate(BLOCK.finditer(text)):
            name = f"{readme.relative_to(ROOT)}#{i + 1}"
            found.append((name, m.group("code"), m.group("mark") is None))
    return found


EXAMPLES = examples()


def test_the_readmes_have_examples() -> None:
    assert any(name.startswith("README.md#") for name, _, _ in EXAMPLES)


@pytest.mark.parametrize(("name", "code", "runnable"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_example_runs(name: str, code: str, runnable: bool, tmp_path: Path) -> None:
    if not runnable:
        pytest.skip(f"{name} is marked not runnable")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    files = []
    for i, (name, code, runnable) in enumerate(EXAMPLES):
        # A fragment marked not runnable names things it does not define: only whole
        # examples are type-checked.
        if not runnable or name.split("#")[0] in MYPY_NOT_YET:
            continue
        path = tmp_path / f"example_{i}.py"
        path.write_text(f"# {name}\n{code}", encoding="utf-8")
        files.append(str(path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
