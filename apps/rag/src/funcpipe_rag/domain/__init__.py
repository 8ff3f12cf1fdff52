"""funcpipe_rag.domain: pure types, identity, parsing, cleaning, readable text, chunking,
sync planning, ports.

No I/O happens here; the ports are Protocols the adapters implement.
"""

from ._chunk import ChunkingConfig as ChunkingConfig
from ._chunk import chunk_document as chunk_document
from ._clean import clean_text as clean_text
from ._failures import BACKEND_STAGES as BACKEND_STAGES
from ._failures import EXIT_CODES as EXIT_CODES
from ._failures import EXIT_OK as EXIT_OK
from ._failures import EXIT_SIGTERM as EXIT_SIGTERM
from ._failures import INGEST_RUNNING as INGEST_RUNNING
from ._failures import NO_SPACE as NO_SPACE
from ._failures import OVERLOADED as OVERLOADED
from ._failures import SPEC_CODES as SPEC_CODES
from ._failures import STORE_LOCKED as STORE_LOCKED
from ._failures import USAGE_STAGES as USAGE_STAGES
from ._failures import Failure as Failure
from ._failures import Stage as Stage
from ._failures import classify as classify
from ._failures import error_body as error_body
from ._failures import exit_code as exit_code
from ._failures import http_status as http_status
from ._failures import identity_mismatch as identity_mismatch
from ._failures import is_backend as is_backend
from ._identity import NAMESPACE as NAMESPACE
from ._identity import chunk_hash as chunk_hash
from ._identity import chunk_set_hash as chunk_set_hash
from ._identity import commit_id as commit_id
from ._identity import doc_version as doc_version
from ._identity import escape_name as escape_name
from ._identity import is_url as is_url
from ._identity import key_is_under as key_is_under
from ._identity import normalise_url as normalise_url
from ._identity import path_key as path_key
from ._identity import point_id as point_id
from ._identity import sha256_hex as sha256_hex
from ._identity import unescape_name as unescape_name
from ._locator import BLOCK as BLOCK
from ._locator import ENCRYPTED as ENCRYPTED
from ._locator import NO_TEXT as NO_TEXT
from ._locator import PAGE as PAGE
from ._locator import Extracted as Extracted
from ._locator import Limits as Limits
from ._locator import Locator as Locator
from ._locator import Marks as Marks
from ._locator import cite as cite
from ._locator import locate as locate
from ._markup import Readable as Readable
from ._markup import readable as readable
from ._parse import BINARY_KINDS as BINARY_KINDS
from ._parse import SUPPORTED_EXTENSIONS as SUPPORTED_EXTENSIONS
from ._parse import decode_source as decode_source
from ._parse import html_to_text as html_to_text
from ._parse import kind_of as kind_of
from ._parse import looks_like_html as looks_like_html
from ._parse import make_document as make_document
from ._parse import parse_source as parse_source
from ._parse import parse_text as parse_text
from ._ports import BinarySource as BinarySource
from ._ports import DocumentSource as DocumentSource
from ._ports import Embedder as Embedder
from ._ports import RawSource as RawSource
from ._ports import Room as Room
from ._ports import VectorIndex as VectorIndex
from ._retrieval import DENSE_ONLY as DENSE_ONLY
from ._retrieval import MODES as MODES
from ._retrieval import SPARSE_NAME as SPARSE_NAME
from ._retrieval import WHERE_FIELDS as WHERE_FIELDS
from ._retrieval import Bm25Params as Bm25Params
from ._retrieval import IndexQuery as IndexQuery
from ._retrieval import Mode as Mode
from ._retrieval import SearchConfig as SearchConfig
from ._retrieval import SearchOptions as SearchOptions
from ._retrieval import parse_where as parse_where
from ._sync import READ_MARGIN as READ_MARGIN
from ._sync import STAMP_ID as STAMP_ID
from ._sync import WRITE_MARGIN as WRITE_MARGIN
from ._sync import CollectionInfo as CollectionInfo
from ._sync import CollectionStamp as CollectionStamp
from ._sync import SourcePlan as SourcePlan
from ._sync import SourceState as SourceState
from ._sync import SyncContext as SyncContext
from ._sync import apply_plan as apply_plan
from ._sync import commit_for as commit_for
from ._sync import desired_records as desired_records
from ._sync import is_current as is_current
from ._sync import plan_document as plan_document
from ._sync import plan_source as plan_source
from ._sync import plan_steps as plan_steps
from ._sync import prune_candidates as prune_candidates
from ._sync import space_needed as space_needed
from ._sync import stamp_conflict as stamp_conflict
from ._sync import state_of as state_of
from ._types import KIND_CHUNK as KIND_CHUNK
from ._types import KIND_COMMIT as KIND_COMMIT
from ._types import Chunk as Chunk
from ._types import ChunkRecord as ChunkRecord
from ._types import CommitRecord as CommitRecord
from ._types import Document as Document
from ._types import EmbeddedChunk as EmbeddedChunk
from ._types import EmbedderId as EmbedderId
from ._types import SearchHit as SearchHit
from ._types import StoredRecord as StoredRecord
from ._types import Vector as Vector
from ._types import record_from_payload as record_from_payload
from ._verify import CORRUPT as CORRUPT
from ._verify import DUPLICATE as DUPLICATE
from ._verify import HALF_WRITTEN as HALF_WRITTEN
from ._verify import ORPHAN as ORPHAN
from ._verify import Problem as Problem
from ._verify import VerifyOutcome as VerifyOutcome
from ._verify import VerifyReport as VerifyReport
from ._verify import verify_records as verify_records

__all__ = [
    "BINARY_KINDS",
    "BLOCK",
    "BinarySource",
    "ENCRYPTED",
    "Extracted",
    "Limits",
    "NO_TEXT",
    "Locator",
    "Marks",
    "PAGE",
    "cite",
    "locate",
    "Bm25Params",
    "CORRUPT",
    "Chunk",
    "ChunkRecord",
    "ChunkingConfig",
    "CollectionInfo",
    "CollectionStamp",
    "CommitRecord",
    "DENSE_ONLY",
    "DUPLICATE",
    "Document",
    "DocumentSource",
    "EmbeddedChunk",
    "Embedder",
    "EmbedderId",
    "HALF_WRITTEN",
    "IndexQuery",
    "KIND_CHUNK",
    "KIND_COMMIT",
    "MODES",
    "Mode",
    "NAMESPACE",
    "NO_SPACE",
    "BACKEND_STAGES",
    "EXIT_CODES",
    "EXIT_OK",
    "EXIT_SIGTERM",
    "INGEST_RUNNING",
    "OVERLOADED",
    "SPEC_CODES",
    "STORE_LOCKED",
    "USAGE_STAGES",
    "Failure",
    "Stage",
    "classify",
    "error_body",
    "exit_code",
    "http_status",
    "is_backend",
    "identity_mismatch",
    "ORPHAN",
    "Problem",
    "READ_MARGIN",
    "RawSource",
    "Readable",
    "Room",
    "SPARSE_NAME",
    "STAMP_ID",
    "SUPPORTED_EXTENSIONS",
    "SearchConfig",
    "SearchHit",
    "SearchOptions",
    "SourcePlan",
    "SourceState",
    "StoredRecord",
    "SyncContext",
    "Vector",
    "VectorIndex",
    "VerifyOutcome",
    "VerifyReport",
    "WHERE_FIELDS",
    "WRITE_MARGIN",
    "apply_plan",
    "chunk_document",
    "chunk_hash",
    "chunk_set_hash",
    "clean_text",
    "commit_for",
    "commit_id",
    "decode_source",
    "desired_records",
    "doc_version",
    "escape_name",
    "html_to_text",
    "is_current",
    "is_url",
    "key_is_under",
    "kind_of",
    "looks_like_html",
    "make_document",
    "normalise_url",
    "parse_source",
    "parse_text",
    "parse_where",
    "path_key",
    "plan_document",
    "plan_source",
    "plan_steps",
    "point_id",
    "prune_candidates",
    "readable",
    "record_from_payload",
    "sha256_hex",
    "space_needed",
    "stamp_conflict",
    "state_of",
    "unescape_name",
    "verify_records",
]
