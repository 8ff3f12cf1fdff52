"""funcpipe.adapters.http: HTTP capabilities on httpx (extra ``[http]``).

- ``HttpClient(client)``: ``get_json``, ``get_text`` (streamed, size-limited), ``stream_lines``.
- ``OpenAIEmbeddings(client, *, base_url, model, ...)``: an ``Embedder`` over ``/v1/embeddings``.
- URL check and error mapping helpers: ``check_url``, ``error_for_response``,
  ``error_for_exception``, ``code_for_status``, ``parse_retry_after``, ``server_error``,
  ``safe_url``. No method raises, whatever the input.

The shell owns the ``httpx.AsyncClient`` (``async with httpx.AsyncClient() as c: ...``).
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("http", "httpx")

from funcpipe.ports import code_for_status as code_for_status

from ._client import HttpClient as HttpClient
from ._errors import check_url as check_url
from ._errors import error_for_exception as error_for_exception
from ._errors import error_for_response as error_for_response
from ._errors import parse_retry_after as parse_retry_after
from ._errors import safe_url as safe_url
from ._errors import server_error as server_error
from ._openai import EncodingFormat as EncodingFormat
from ._openai import OpenAIEmbeddings as OpenAIEmbeddings
from ._openai import embeddings_url as embeddings_url

__all__ = [
    "EncodingFormat",
    "HttpClient",
    "OpenAIEmbeddings",
    "check_url",
    "code_for_status",
    "embeddings_url",
    "error_for_exception",
    "error_for_response",
    "parse_retry_after",
    "safe_url",
    "server_error",
]
