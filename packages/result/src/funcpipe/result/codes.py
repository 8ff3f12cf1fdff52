"""The FuncPipe error-code vocabulary: plain string constants shared by every package.

Retriable by default (see ``RetryPolicy.retriable_codes``): TRANSIENT, TIMEOUT, RATE_LIMIT.
Everything else is final unless a policy says otherwise.
"""

from typing import Final

# Failure taxonomy of effects (adapters map every failure to one of these).
TRANSIENT: Final = "TRANSIENT"
TIMEOUT: Final = "TIMEOUT"
RATE_LIMIT: Final = "RATE_LIMIT"
AUTH: Final = "AUTH"
NETWORK: Final = "NETWORK"
SERVICE_SPECIFIC: Final = "SERVICE_SPECIFIC"
DB_ERROR: Final = "DB_ERROR"
FATAL_DB: Final = "FATAL_DB"
UNEXPECTED: Final = "UNEXPECTED"
MAX_RETRIES: Final = "MAX_RETRIES"
INVALID_INPUT: Final = "INVALID_INPUT"
PARSE_ERROR: Final = "PARSE_ERROR"

# Finer codes used by the adapters and the app for bad input and limits.
QUOTA_EXHAUSTED: Final = "QUOTA_EXHAUSTED"
NOT_FOUND: Final = "NOT_FOUND"
PERMISSION_DENIED: Final = "PERMISSION_DENIED"
DECODE_ERROR: Final = "DECODE_ERROR"
TOO_LARGE: Final = "TOO_LARGE"
UNSUPPORTED: Final = "UNSUPPORTED"
EMPTY_INPUT: Final = "EMPTY_INPUT"
DIMENSION_MISMATCH: Final = "DIMENSION_MISMATCH"
CANCELLED: Final = "CANCELLED"
STORE_LOCKED: Final = "STORE_LOCKED"
"""An embedded store already open in another process (its lock is held)."""

# Codes of funcpipe.specs (reconstruction of pipelines shipped as data).
HASH_MISMATCH: Final = "HASH_MISMATCH"
UNALLOWED_OP: Final = "UNALLOWED_OP"
UNKNOWN_OP: Final = "UNKNOWN_OP"
VERSION_MISMATCH: Final = "VERSION_MISMATCH"
MISSING_FIELD: Final = "MISSING_FIELD"
INVALID_SPEC: Final = "INVALID_SPEC"
RECONSTRUCT_FAIL: Final = "RECONSTRUCT_FAIL"

DEFAULT_RETRIABLE: Final = frozenset({TRANSIENT, TIMEOUT, RATE_LIMIT})
"""The codes a default ``RetryPolicy`` retries."""
