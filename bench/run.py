"""Run every ``bench/bench_*.py`` module (or those named on the command line) and print each
figure beside its baseline. Usage: ``python bench/run.py [name-substring ...]``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, print_rows  # noqa: E402


def main(argv: list[str]) -> int:
    rows: list[Row] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(a in path.stem for a in argv):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}", flush=True)
        found: list[Row] = module.run()
        print_rows(found)
        print(flush=True)
        rows.extend(found)
    if not rows:
        print("no benchmark matched", argv)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
