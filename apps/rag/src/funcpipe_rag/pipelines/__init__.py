"""funcpipe_rag.pipelines: descriptions of ingest, query and verify, built from the ports.

Nothing here performs I/O by itself: every function returns an AsyncPlan or AsyncGen that a
shell drives through ``funcpipe.adapters.runtime``.
"""

from ._compose import describe_ingest as describe_ingest
from ._compose import describe_prepared as describe_prepared
from ._ingest import IngestRequest as IngestRequest
from ._ingest import fold_events as fold_events
from ._ingest import ingest as ingest
from ._ingest import ingest_events as ingest_events
from ._ingest import plan_lines as plan_lines
from ._manage import Deleted as Deleted
from ._manage import delete_sources as delete_sources
from ._manage import group_by_source as group_by_source
from ._manage import match_sources as match_sources
from ._manage import not_found as not_found
from ._query import search as search
from ._query import verify as verify
from ._session import RunConfig as RunConfig
from ._session import StoreSession as StoreSession
from ._settings import ALLOW_LIST as ALLOW_LIST
from ._settings import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._settings import DEFAULT_PARAMS as DEFAULT_PARAMS
from ._settings import DESCRIBE_ENTRIES as DESCRIBE_ENTRIES
from ._settings import DOCS_ID as DOCS_ID
from ._settings import EMBED_ID as EMBED_ID
from ._settings import OPS_VERSION as OPS_VERSION
from ._settings import PLAN_ID as PLAN_ID
from ._settings import READ_ID as READ_ID
from ._settings import WRITE_ID as WRITE_ID
from ._settings import IngestSettings as IngestSettings
from ._settings import Retrying as Retrying
from ._settings import chunking_of as chunking_of
from ._settings import ingest_settings as ingest_settings
from ._settings import spec_collection as spec_collection
from ._shards import Known as Known
from ._shards import PreparedList as PreparedList
from ._shards import Remote as Remote
from ._shards import Shard as Shard
from ._shards import ShardDone as ShardDone
from ._shards import ShardItem as ShardItem
from ._shards import ShardRunner as ShardRunner
from ._shards import prepare_source as prepare_source
from ._shards import remote_sources as remote_sources
from ._shards import shards_of as shards_of
from ._spec import DEFAULT_COLLECTION as DEFAULT_COLLECTION
from ._spec import DEFAULT_SEARCH as DEFAULT_SEARCH
from ._spec import DEFAULT_SETTINGS as DEFAULT_SETTINGS
from ._spec import DEFAULT_SPEC as DEFAULT_SPEC
from ._spec import build_default_spec as build_default_spec
from ._types import SPEC_CODES as SPEC_CODES
from ._types import Halt as Halt
from ._types import IngestEvent as IngestEvent
from ._types import IngestReport as IngestReport
from ._types import Outcome as Outcome
from ._types import Phase as Phase
from ._types import Prepared as Prepared
from ._types import Ready as Ready
from ._types import SourceError as SourceError
from ._types import Unchanged as Unchanged
from ._types import Walked as Walked
from ._types import fold_report as fold_report
from ._types import source_error as source_error
from ._wire import prepared_of as prepared_of
from ._wire import prepared_to_plain as prepared_to_plain

__all__ = [
    "ALLOW_LIST",
    "DEFAULT_COLLECTION",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PARAMS",
    "DEFAULT_SEARCH",
    "DEFAULT_SETTINGS",
    "DEFAULT_SPEC",
    "DESCRIBE_ENTRIES",
    "DOCS_ID",
    "Deleted",
    "EMBED_ID",
    "Halt",
    "IngestEvent",
    "IngestReport",
    "IngestRequest",
    "IngestSettings",
    "Known",
    "OPS_VERSION",
    "Outcome",
    "PLAN_ID",
    "Phase",
    "Prepared",
    "PreparedList",
    "READ_ID",
    "Ready",
    "Remote",
    "Retrying",
    "RunConfig",
    "SPEC_CODES",
    "Shard",
    "ShardDone",
    "ShardItem",
    "ShardRunner",
    "SourceError",
    "StoreSession",
    "Unchanged",
    "WRITE_ID",
    "Walked",
    "build_default_spec",
    "chunking_of",
    "delete_sources",
    "describe_ingest",
    "describe_prepared",
    "fold_events",
    "fold_report",
    "group_by_source",
    "ingest",
    "ingest_events",
    "ingest_settings",
    "match_sources",
    "not_found",
    "plan_lines",
    "prepare_source",
    "prepared_of",
    "prepared_to_plain",
    "remote_sources",
    "search",
    "shards_of",
    "source_error",
    "spec_collection",
    "verify",
]
