"""funcpipe.result: Ok/Err results with structured ErrInfo errors."""

from . import codes as codes
from ._errinfo import ErrInfo as ErrInfo
from ._helpers import partition as partition
from ._helpers import sequence as sequence
from ._helpers import traverse as traverse
from ._helpers import try_call as try_call
from ._result import Err as Err
from ._result import Ok as Ok
from ._result import Result as Result
from ._result import UnwrapError as UnwrapError

__all__ = [
    "Err",
    "ErrInfo",
    "Ok",
    "Result",
    "UnwrapError",
    "codes",
    "partition",
    "sequence",
    "traverse",
    "try_call",
]
