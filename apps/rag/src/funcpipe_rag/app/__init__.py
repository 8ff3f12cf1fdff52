"""funcpipe_rag.app: the composition root (settings -> adapters -> pipelines)."""

from funcpipe.specs import PipelineSpec as PipelineSpec
from funcpipe.specs import serialize

from funcpipe_rag.adapters import Confine as Confine
from funcpipe_rag.adapters import Filters as Filters
from funcpipe_rag.domain import EXIT_CODES as EXIT_CODES
from funcpipe_rag.domain import EXIT_OK as EXIT_OK
from funcpipe_rag.domain import INGEST_RUNNING as INGEST_RUNNING
from funcpipe_rag.domain import NO_SPACE as NO_SPACE
from funcpipe_rag.domain import OVERLOADED as OVERLOADED
from funcpipe_rag.domain import SPEC_CODES as SPEC_CODES
from funcpipe_rag.domain import STORE_LOCKED as STORE_LOCKED
from funcpipe_rag.domain import Failure as Failure
from funcpipe_rag.domain import SearchHit as SearchHit
from funcpipe_rag.domain import SearchOptions as SearchOptions
from funcpipe_rag.domain import Stage as Stage
from funcpipe_rag.domain import VerifyOutcome as VerifyOutcome
from funcpipe_rag.domain import VerifyReport as VerifyReport
from funcpipe_rag.domain import classify as classify
from funcpipe_rag.domain import error_body as error_body
from funcpipe_rag.domain import exit_code as exit_code
from funcpipe_rag.domain import http_status as http_status
from funcpipe_rag.domain import parse_where as parse_where
from funcpipe_rag.pipelines import DEFAULT_SETTINGS as DEFAULT_SETTINGS
from funcpipe_rag.pipelines import IngestEvent as IngestEvent
from funcpipe_rag.pipelines import IngestReport as IngestReport
from funcpipe_rag.pipelines import IngestSettings as IngestSettings
from funcpipe_rag.pipelines import Outcome as Outcome
from funcpipe_rag.pipelines import Phase as Phase
from funcpipe_rag.pipelines import SourceError as SourceError
from funcpipe_rag.pipelines import Walked as Walked
from funcpipe_rag.pipelines import fold_report as fold_report
from funcpipe_rag.pipelines import plan_lines as plan_lines

from ._backends import Backends as Backends
from ._backends import embedder_identity as embedder_identity
from ._backends import embedder_session as embedder_session
from ._backends import open_backends as open_backends
from ._backends import open_index as open_index
from ._backends import static_embedder as static_embedder
from ._cluster import Cluster as Cluster
from ._cluster import dask_missing as dask_missing
from ._demo import QUERIES as QUERIES
from ._demo import run_demo as run_demo
from ._ingest import ingest_events as ingest_events
from ._ingest import key_base_of as key_base_of
from ._ingest import run_ingest as run_ingest
from ._manage import CollectionEntry as CollectionEntry
from ._manage import CollectionStats as CollectionStats
from ._manage import DeleteReport as DeleteReport
from ._manage import DropReport as DropReport
from ._manage import SourceEntry as SourceEntry
from ._manage import collection_stats as collection_stats
from ._manage import drop_collection as drop_collection
from ._manage import list_collections as list_collections
from ._manage import list_sources as list_sources
from ._manage import remove_sources as remove_sources
from ._manage import run_collections as run_collections
from ._manage import run_delete as run_delete
from ._manage import run_drop as run_drop
from ._manage import run_sources as run_sources
from ._manage import run_stats as run_stats
from ._manage import store_dir as store_dir
from ._query import run_search as run_search
from ._query import run_verify as run_verify
from ._settings import Settings as Settings
from ._settings import collection_for as collection_for
from ._settings import load_settings as load_settings
from ._show import cite as cite
from ._show import resolve_source as resolve_source
from ._show import source_text as source_text
from ._show import span_of as span_of
from ._specfile import check_spec as check_spec
from ._specfile import read_spec as read_spec
from ._specfile import spec_format as spec_format
from .service._owner import OWNER_FILE as OWNER_FILE
from .service._owner import owner_of as owner_of


def spec_text(spec: PipelineSpec, fmt: str = "yaml") -> str:
    """The spec as YAML or JSON text."""
    return serialize(spec, "yaml" if fmt == "yaml" else "json")


def spec_hash_of(spec: PipelineSpec) -> str:
    """The spec's canonical hash."""
    return spec.version


__all__ = [
    "EXIT_CODES",
    "EXIT_OK",
    "NO_SPACE",
    "OVERLOADED",
    "STORE_LOCKED",
    "Failure",
    "Stage",
    "classify",
    "error_body",
    "exit_code",
    "http_status",
    "INGEST_RUNNING",
    "OWNER_FILE",
    "QUERIES",
    "SPEC_CODES",
    "parse_where",
    "owner_of",
    "Backends",
    "Cluster",
    "Confine",
    "CollectionEntry",
    "CollectionStats",
    "DeleteReport",
    "DropReport",
    "Filters",
    "DEFAULT_SETTINGS",
    "IngestEvent",
    "IngestSettings",
    "PipelineSpec",
    "IngestReport",
    "Outcome",
    "Phase",
    "SearchHit",
    "SearchOptions",
    "Settings",
    "SourceEntry",
    "SourceError",
    "VerifyOutcome",
    "VerifyReport",
    "Walked",
    "check_spec",
    "collection_for",
    "collection_stats",
    "dask_missing",
    "drop_collection",
    "fold_report",
    "ingest_events",
    "key_base_of",
    "cite",
    "resolve_source",
    "source_text",
    "span_of",
    "list_collections",
    "list_sources",
    "load_settings",
    "open_backends",
    "embedder_identity",
    "embedder_session",
    "open_index",
    "plan_lines",
    "remove_sources",
    "read_spec",
    "spec_format",
    "run_collections",
    "run_delete",
    "run_demo",
    "run_drop",
    "run_ingest",
    "run_search",
    "run_sources",
    "run_stats",
    "run_verify",
    "spec_hash_of",
    "spec_text",
    "static_embedder",
    "store_dir",
]
