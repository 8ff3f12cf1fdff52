"""Ok and Err: a Result is exactly one of them.

Laws (checked by property tests): functor identity and composition for ``map``; left identity,
right identity and associativity for ``and_then``; ``Err`` short-circuits ``map``/``and_then``
and ``Ok`` short-circuits ``map_err``/``or_else``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, NoReturn, TypeAlias, TypeVar

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F")
T = TypeVar("T")
E = TypeVar("E")


class UnwrapError(Exception):
    """Raised by ``Err.unwrap()``; ``error`` holds the error that was unwrapped."""

    def __init__(self, error: object) -> None:
        super().__init__(f"called unwrap() on Err: {error!r}")
        self.error = error


@dataclass(frozen=True)
class Ok(Generic[T_co]):
    """The success variant. Match with ``case Ok(value=v)``."""

    # Hand-written slots: dataclass(slots=True) breaks ``Ok[int](x)`` on a frozen generic.
    __slots__ = ("value",)
    value: T_co

    def is_ok(self) -> Literal[True]:
        """Always True for ``Ok``."""
        return True

    def is_err(self) -> Literal[False]:
        """Always False for ``Ok``."""
        return False

    def map(self, f: Callable[[T_co], U]) -> Ok[U]:
        """Apply ``f`` to the value."""
        return Ok(f(self.value))

    def map_err(self, f: Callable[[NoReturn], object]) -> Ok[T_co]:
        """No-op on ``Ok``."""
        return self

    def and_then(self, f: Callable[[T_co], Result[U, F]]) -> Result[U, F]:
        """Chain a Result-returning step (monadic bind)."""
        return f(self.value)

    bind = and_then

    def or_else(self, f: Callable[[NoReturn], object]) -> Ok[T_co]:
        """No-op on ``Ok``."""
        return self

    def unwrap(self) -> T_co:
        """The value."""
        return self.value

    def unwrap_or(self, default: object) -> T_co:
        """The value (``default`` is ignored)."""
        return self.value

    def unwrap_or_else(self, f: Callable[[NoReturn], object]) -> T_co:
        """The value (``f`` is not called)."""
        return self.value


@dataclass(frozen=True)
class Err(Generic[E_co]):
    """The failure variant. Match with ``case Err(error=e)``."""

    __slots__ = ("error",)
    error: E_co

    def is_ok(self) -> Literal[False]:
        """Always False for ``Err``."""
        return False

    def is_err(self) -> Literal[True]:
        """Always True for ``Err``."""
        return True

    def map(self, f: Callable[[NoReturn], object]) -> Err[E_co]:
        """No-op on ``Err``."""
        return self

    def map_err(self, f: Callable[[E_co], F]) -> Err[F]:
        """Apply ``f`` to the error."""
        return Err(f(self.error))

    def and_then(self, f: Callable[[NoReturn], object]) -> Err[E_co]:
        """No-op on ``Err``: the error short-circuits."""
        return self

    bind = and_then

    def or_else(self, f: Callable[[E_co], Result[U, F]]) -> Result[U, F]:
        """Recover from the error with a Result-returning step."""
        return f(self.error)

    def unwrap(self) -> NoReturn:
        """Raise ``UnwrapError`` carrying the error."""
        raise UnwrapError(self.error)

    def unwrap_or(self, default: U) -> U:
        """``default``, since there is no value."""
        return default

    def unwrap_or_else(self, f: Callable[[E_co], U]) -> U:
        """``f(error)``: compute a fallback from the error."""
        return f(self.error)


Result: TypeAlias = Ok[T] | Err[E]
"""``Result[T, E]`` is ``Ok[T] | Err[E]``."""
