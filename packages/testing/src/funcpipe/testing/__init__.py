"""funcpipe.testing: deterministic testing tools for FuncPipe pipelines."""

from ._fake_time import FakeClock as FakeClock
from ._fake_time import FakeSleeper as FakeSleeper
from ._fake_time import FakeTimeout as FakeTimeout
from ._fake_time import make_fake_timeout_ctx as make_fake_timeout_ctx
from ._fake_time import make_test_resilience_env as make_test_resilience_env
from ._virtual import DeadlockError as DeadlockError
from ._virtual import VirtualTimeLoop as VirtualTimeLoop
from ._virtual import run_virtual as run_virtual

__all__ = [
    "DeadlockError",
    "FakeClock",
    "FakeSleeper",
    "FakeTimeout",
    "VirtualTimeLoop",
    "make_fake_timeout_ctx",
    "make_test_resilience_env",
    "run_virtual",
]
