"""Start-up cost: what the CLI imports before it knows it needs it.

An unchanged re-run over local files must not pay for the HTTP stack, the model's numerics or
YAML (bench: the whole-process re-run). Each is loaded where it is used.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("httpx", "numpy", "yaml", "fastapi", "uvicorn", "distributed")


def test_importing_the_cli_loads_no_http_stack_numerics_yaml_server_or_dask() -> None:
    code = (
        "import json, sys; import funcpipe_rag.cli; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []
