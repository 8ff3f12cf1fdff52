"""The options every command shares, declared once (flag, metavar, help, env var)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        metavar="NAME",
        help="Collection name (env FUNCPIPE_COLLECTION; default: the spec's, else funcpipe).",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Embedded store directory (env FUNCPIPE_DATA_DIR; default: .funcpipe).",
    ),
]
QdrantOpt = Annotated[
    str | None,
    typer.Option(
        "--qdrant-url",
        metavar="URL",
        help=(
            "Use a Qdrant server or cluster, http(s)://HOST[:PORT] "
            "(env FUNCPIPE_QDRANT_URL; key: FUNCPIPE_QDRANT_API_KEY)."
        ),
    ),
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        metavar="FILE",
        help="A pipeline spec (YAML or JSON); its collection is used unless --collection.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FUNCPIPE_SERVER",
        metavar="URL",
        help="Go through a running funcpipe-rag serve at this URL (env FUNCPIPE_SERVER; key: "
        "FUNCPIPE_API_KEY). Same output, JSON and exit codes as the local run.",
    ),
]
SourceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        metavar="GLOB",
        help="Only sources with this key or matching this glob (repeatable: any of them).",
    ),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        metavar="FIELD=VALUE",
        help=(
            "Only chunks whose payload FIELD equals VALUE: title, headings (any heading of "
            "the path), source, doc_version, spec_hash. Repeatable: all fields must match; "
            "a repeated field matches any of its values."
        ),
    ),
]
