"""``funcpipe-rag spec show|validate|seal|hash``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from funcpipe_rag.app import PipelineSpec, read_spec, spec_format, spec_hash_of, spec_text

from ._app import CleanCommand, spec_cli
from ._fail import ok_or_fail, usage_error
from ._io import out

SpecFileArg = Annotated[
    Path | None,
    typer.Argument(
        help="A spec file (.yaml/.yml or .json); the default spec if omitted.", metavar="FILE"
    ),
]


def _spec(file: Path | None) -> PipelineSpec:
    return ok_or_fail(read_spec(file)).spec


@spec_cli.command("show", cls=CleanCommand)
def spec_show(
    file: SpecFileArg = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="yaml or json.")] = "yaml",
) -> None:
    """Print the spec (YAML by default): ops, params, policies and hashes."""
    if fmt not in ("yaml", "json"):
        usage_error(f"--format must be yaml or json, not {fmt!r}")
    sys.stdout.write(spec_text(_spec(file), "yaml" if fmt == "yaml" else "json"))


@spec_cli.command("validate", cls=CleanCommand)
def spec_validate(file: SpecFileArg = None) -> None:
    """Check a spec: schema, hashes, and that this app can run every op (exit 2 if not)."""
    s = _spec(file)
    out.print(f"valid: {s.name} ({len(s.ops)} ops), hash {s.version}", markup=False)


@spec_cli.command("seal", cls=CleanCommand)
def spec_seal(
    file: Annotated[
        Path,
        typer.Argument(help="The edited spec file (.yaml/.yml or .json).", metavar="FILE"),
    ],
) -> None:
    """Print FILE with its hashes recomputed, after a deliberate edit (same format).

    Every other check still applies (limits, safe YAML, schema, policies, trusted ops), so
    `funcpipe-rag spec seal my.yaml > sealed.yaml` then `ingest --spec sealed.yaml`.
    """
    loaded = ok_or_fail(read_spec(file, reseal=True))
    sys.stdout.write(spec_text(loaded.spec, spec_format(file)))


@spec_cli.command("hash", cls=CleanCommand)
def spec_hash(file: SpecFileArg = None) -> None:
    """Print the spec's canonical hash (stamped on every point it writes)."""
    print(spec_hash_of(_spec(file)))
