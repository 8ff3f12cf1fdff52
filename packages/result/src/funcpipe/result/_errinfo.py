"""ErrInfo: the structured error carried by ``Err`` inside FuncPipe pipelines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from . import codes

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ErrInfo:
    """An immutable, structured error.

    ``path[0]`` is the key of the item the error belongs to (the pipeline laws rely on it).
    ``ctx`` is a read-only mapping of details (e.g. ``retry_after_s``); ``cause`` keeps the
    original exception for debugging and is ignored by equality and hashing, so two runs that
    fail the same way compare equal.
    """

    code: str
    msg: str
    stage: str = ""
    path: tuple[str | int, ...] = ()
    cause: BaseException | None = field(default=None, compare=False, repr=False)
    ctx: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        path: object = self.path
        if not isinstance(path, tuple):  # accept any iterable of keys from callers
            object.__setattr__(self, "path", tuple(self.path))
        if self.ctx is not _EMPTY:  # copy: a caller's dict (or a proxy over it) may change later
            object.__setattr__(
                self, "ctx", MappingProxyType(dict(self.ctx)) if self.ctx else _EMPTY
            )

    def __hash__(self) -> int:
        return hash((self.code, self.msg, self.stage, self.path))

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        code: str = codes.UNEXPECTED,
        msg: str | None = None,
        stage: str = "",
        path: tuple[str | int, ...] = (),
        ctx: Mapping[str, object] | None = None,
    ) -> ErrInfo:
        """Wrap an exception; the message defaults to ``"<ExcType>: <str(exc)>"``."""
        text = msg if msg is not None else f"{type(exc).__name__}: {exc}"
        return cls(code=code, msg=text, stage=stage, path=path, cause=exc, ctx=ctx or _EMPTY)

    def with_path(self, *prefix: str | int) -> ErrInfo:
        """Return a copy whose path is ``prefix + self.path``."""
        return ErrInfo(self.code, self.msg, self.stage, prefix + self.path, self.cause, self.ctx)

    def with_stage(self, stage: str) -> ErrInfo:
        """Return a copy tagged with ``stage``."""
        return ErrInfo(self.code, self.msg, stage, self.path, self.cause, self.ctx)

    def with_ctx(self, **extra: object) -> ErrInfo:
        """Return a copy whose ctx also holds ``extra`` (later keys win)."""
        merged = {**self.ctx, **extra}
        return ErrInfo(self.code, self.msg, self.stage, self.path, self.cause, merged)
