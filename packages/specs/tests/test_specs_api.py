"""The public surface: ``__all__`` is importable and documented; the README example runs."""

from __future__ import annotations

import re
from pathlib import Path

import funcpipe.specs as specs
from funcpipe.result import Ok
from funcpipe.testing import run_virtual

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_public_name_exists_and_is_documented() -> None:
    assert sorted(specs.__all__) == specs.__all__
    for name in specs.__all__:
        obj = getattr(specs, name)
        if callable(obj) and hasattr(obj, "__module__") and obj.__module__.startswith("funcpipe"):
            assert obj.__doc__, f"{name} has no docstring"
    for name in ("PipelineSpec", "OpSpec", "canonical_hash", "reconstruct_pipeline", "parse"):
        assert name in specs.__all__


def test_readme_round_trip_runs() -> None:
    match = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match is not None
    scope: dict[str, object] = {}
    exec(compile(match.group(1), str(README), "exec"), scope)
    stream = scope["stream"]

    async def main() -> list[object]:
        return [item async for item in stream()]  # type: ignore[operator]

    assert run_virtual(main) == [Ok(5), Ok(4)]  # (1+1)+(2+1), then 3+1 flushed at the end
    assert "version:" in str(scope["text"])
