"""funcpipe_rag.app: the composition root (settings -> adapters -> pipelines)."""

from funcpipe.specs import PipelineSpec, serialize

from funcpipe_rag.domain import SearchHit as SearchHit
from funcpipe_rag.domain import VerifyReport as VerifyReport
from funcpipe_rag.pipelines import IngestEvent as IngestEvent
from funcpipe_rag.pipelines import IngestReport as IngestReport
from funcpipe_rag.pipelines import Outcome as Outcome
from funcpipe_rag.pipelines import Phase as Phase
from funcpipe_rag.pipelines import SourceError as SourceError
from funcpipe_rag.pipelines import fold_report as fold_report
from funcpipe_rag.pipelines import plan_lines as plan_lines

from ._cluster import Cluster as Cluster
from ._cluster import dask_missing as dask_missing
from ._compose import Backends as Backends
from ._compose import collection_for as collection_for
from ._compose import ingest_events as ingest_events
from ._compose import open_backends as open_backends
from ._compose import run_ingest as run_ingest
from ._compose import run_search as run_search
from ._compose import run_verify as run_verify
from ._compose import static_embedder as static_embedder
from ._demo import QUERIES as QUERIES
from ._demo import run_demo as run_demo
from ._settings import Settings as Settings
from ._settings import load_settings as load_settings
from ._specfile import check_spec as check_spec
from ._specfile import read_spec as read_spec
from ._specfile import spec_format as spec_format


def spec_text(spec: PipelineSpec, fmt: str = "yaml") -> str:
    """The spec as YAML or JSON text."""
    return serialize(spec, "yaml" if fmt == "yaml" else "json")


def spec_hash_of(spec: PipelineSpec) -> str:
    """The spec's canonical hash."""
    return spec.version


__all__ = [
    "QUERIES",
    "Backends",
    "Cluster",
    "IngestEvent",
    "IngestReport",
    "Outcome",
    "Phase",
    "SearchHit",
    "Settings",
    "SourceError",
    "VerifyReport",
    "check_spec",
    "collection_for",
    "dask_missing",
    "fold_report",
    "ingest_events",
    "load_settings",
    "open_backends",
    "plan_lines",
    "read_spec",
    "spec_format",
    "run_demo",
    "run_ingest",
    "run_search",
    "run_verify",
    "spec_hash_of",
    "spec_text",
    "static_embedder",
]
