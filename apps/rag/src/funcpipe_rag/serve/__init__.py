"""funcpipe_rag.serve: the HTTP shell (an ASGI app served by uvicorn). Imports only ``app``."""

from funcpipe_rag.app import OVERLOADED as OVERLOADED

from ._admission import max_inflight_from_env as max_inflight_from_env
from ._app import AppOptions as AppOptions
from ._app import Lifecycle as Lifecycle
from ._app import create_app as create_app
from ._guardrails import Limits as Limits
from ._run import ServeOptions as ServeOptions
from ._run import check_bind as check_bind
from ._run import is_loopback as is_loopback
from ._run import roots_of as roots_of
from ._run import serve as serve
from ._run import serve_async as serve_async

__all__ = [
    "AppOptions",
    "Lifecycle",
    "Limits",
    "OVERLOADED",
    "ServeOptions",
    "check_bind",
    "create_app",
    "is_loopback",
    "max_inflight_from_env",
    "roots_of",
    "serve",
    "serve_async",
]
