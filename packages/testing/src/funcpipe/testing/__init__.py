"""funcpipe.testing: deterministic testing tools for FuncPipe pipelines.

Fake time, a virtual-time event loop with seeded interleavings, fault schedules as data, fake
ports that obey them, Hypothesis strategies, and one assertion helper per pipeline law. The
loopback test servers: ``ChatServer`` here, and ``funcpipe.testing.embeddings_server`` (its own
module: its ``FaultKind`` is not the fault schedules' one).
"""

from funcpipe.ports import code_for_status as code_for_status

from ._chat_server import ChatFault as ChatFault
from ._chat_server import ChatReply as ChatReply
from ._chat_server import ChatServer as ChatServer
from ._fake_time import FakeClock as FakeClock
from ._fake_time import FakeSleeper as FakeSleeper
from ._fake_time import FakeTimeout as FakeTimeout
from ._fake_time import LoopClock as LoopClock
from ._fake_time import make_fake_timeout_ctx as make_fake_timeout_ctx
from ._fake_time import make_test_resilience_env as make_test_resilience_env
from ._fakes import FakeConnection as FakeConnection
from ._fakes import FakeDocumentSource as FakeDocumentSource
from ._fakes import FakeEmbedder as FakeEmbedder
from ._fakes import FakeVectorStore as FakeVectorStore
from ._fakes import StoredPoint as StoredPoint
from ._fakes import Vector as Vector
from ._fakes import fake_vector as fake_vector
from ._faults import FAULT_KINDS as FAULT_KINDS
from ._faults import OK as OK
from ._faults import FaultKind as FaultKind
from ._faults import FaultSchedule as FaultSchedule
from ._faults import InjectedFault as InjectedFault
from ._faults import Outcome as Outcome
from ._http import FakeHttpClient as FakeHttpClient
from ._laws import LawRun as LawRun
from ._laws import LawViolation as LawViolation
from ._laws import assert_at_most_once_success as assert_at_most_once_success
from ._laws import assert_composition_preserved as assert_composition_preserved
from ._laws import assert_idempotent as assert_idempotent
from ._laws import assert_no_duplication as assert_no_duplication
from ._laws import assert_no_loss as assert_no_loss
from ._laws import assert_partial_run_safe as assert_partial_run_safe
from ._laws import attempt_norm as attempt_norm
from ._laws import emission_norm as emission_norm
from ._laws import emission_trace as emission_trace
from ._laws import is_key_disjoint as is_key_disjoint
from ._laws import key_for_result as key_for_result
from ._laws import key_overlaps as key_overlaps
from ._laws import pending_tasks as pending_tasks
from ._ports import AttemptRecord as AttemptRecord
from ._ports import FaultPort as FaultPort
from ._strategies import fault_schedules as fault_schedules
from ._strategies import interleaving_seeds as interleaving_seeds
from ._strategies import outcomes as outcomes
from ._virtual import DeadlockError as DeadlockError
from ._virtual import StepLimitError as StepLimitError
from ._virtual import VirtualRun as VirtualRun
from ._virtual import VirtualRunner as VirtualRunner
from ._virtual import VirtualTimeLoop as VirtualTimeLoop
from ._virtual import run_virtual as run_virtual
from ._virtual import run_virtual_traced as run_virtual_traced

__all__ = [
    "FAULT_KINDS",
    "OK",
    "AttemptRecord",
    "ChatFault",
    "ChatReply",
    "ChatServer",
    "DeadlockError",
    "FakeClock",
    "FakeConnection",
    "FakeDocumentSource",
    "FakeEmbedder",
    "FakeHttpClient",
    "FakeSleeper",
    "FakeTimeout",
    "FakeVectorStore",
    "FaultKind",
    "FaultPort",
    "FaultSchedule",
    "InjectedFault",
    "LawRun",
    "LawViolation",
    "LoopClock",
    "Outcome",
    "StepLimitError",
    "StoredPoint",
    "Vector",
    "VirtualRun",
    "VirtualRunner",
    "VirtualTimeLoop",
    "assert_at_most_once_success",
    "assert_composition_preserved",
    "assert_idempotent",
    "assert_no_duplication",
    "assert_no_loss",
    "assert_partial_run_safe",
    "attempt_norm",
    "code_for_status",
    "emission_norm",
    "emission_trace",
    "fake_vector",
    "fault_schedules",
    "interleaving_seeds",
    "is_key_disjoint",
    "key_for_result",
    "key_overlaps",
    "make_fake_timeout_ctx",
    "make_test_resilience_env",
    "outcomes",
    "pending_tasks",
    "run_virtual",
    "run_virtual_traced",
]
