"""StaticEmbedder: the wordllama 256-d static model, loaded offline from its package files."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from funcpipe.adapters.embedders import check_texts
from funcpipe.adapters.runtime import run_blocking
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MODEL_NAME = "wordllama/l2_supercat_256"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


class _Model(Protocol):
    def embed(self, texts: list[str], *, norm: bool, batch_size: int) -> object: ...


class EmptyTextError(ValueError):
    """A text is empty or has no embeddable token; ``index`` says which."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(f"text {index} {why}")
        self.index = index


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "wordllama is not installed: pip install funcpipe-adapters[embed]"
        )
    return Path(spec.origin).parent


def _import_wordllama_quietly() -> type:
    """``import wordllama`` without its side effect on the root logger (basicConfig)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from wordllama import WordLlamaInference
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    cls: type = WordLlamaInference
    return cls


class StaticEmbedder:
    """An ``Embedder`` on wordllama's bundled 256-d model; CPU only, never touches the network.

    - The tokenizer and weights are read from the files inside the ``wordllama`` wheel
      (its own loader would look for the tokenizer elsewhere and try to download it).
      Loading happens once, lazily, on first use (thread-safe); ``load()`` forces it.
    - ``dim`` < 256 truncates the vectors (the model is Matryoshka-trained: 64 and 128 work).
    - Vectors are unit length (cosine = dot). An empty or whitespace-only text, or one with
      no embeddable token, gives ``Err(EMPTY_INPUT)`` with ``ctx["index"]`` (never NaN).
    - ``embed`` runs the work in ``executor`` (the loop's default pool if None), off the event
      loop; ``embed_sync`` is the blocking path (used by the test embeddings server).
    - A load failure (package missing or damaged) gives ``Err(UNSUPPORTED)``.
    """

    def __init__(
        self, *, dim: int = 256, batch_size: int = 64, executor: Executor | None = None
    ) -> None:
        if not 1 <= dim <= 256:
            raise ValueError(f"StaticEmbedder: dim must be in 1..256, got {dim}")
        if batch_size < 1:
            raise ValueError(f"StaticEmbedder: batch_size must be >= 1, got {batch_size}")
        self._dim = dim
        self._batch_size = batch_size
        self._executor = executor
        self._lock = threading.Lock()
        self._model: _Model | None = None

    @property
    def model_id(self) -> str:
        """``wordllama/l2_supercat_256`` (the dimension is reported separately)."""
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        """Vector length (256 unless truncated)."""
        return self._dim

    def load(self) -> None:
        """Load the model now (blocking; idempotent). Raises if the package files are missing."""
        with self._lock:
            if self._model is not None:
                return
            from safetensors import safe_open
            from tokenizers import Tokenizer

            cls = _import_wordllama_quietly()
            pkg = _package_dir()
            tokenizer = Tokenizer.from_file(str(pkg.joinpath(*_TOKENIZER)))
            with safe_open(str(pkg.joinpath(*_WEIGHTS)), framework="np", device="cpu") as f:
                emb = f.get_tensor("embedding.weight")
            self._model = cls(emb[:, : self._dim], tokenizer, binary=False)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking embed. Raises ``EmptyTextError`` for an empty text, ``TypeError`` for a
        non-str."""
        checked = check_texts(texts)
        if isinstance(checked, Err):
            idx = checked.error.ctx.get("index", 0)
            if checked.error.code == codes.EMPTY_INPUT:
                raise EmptyTextError(idx if isinstance(idx, int) else 0, "is empty")
            raise TypeError(checked.error.msg)
        if not checked.value:
            return []
        import numpy as np  # loaded with the model, not with the module (start-up time)

        self.load()
        model = self._model
        assert model is not None
        raw: NDArray[np.float32] = np.asarray(
            model.embed(checked.value, norm=False, batch_size=self._batch_size),
            dtype=np.float32,
        )
        norms = np.linalg.norm(raw, axis=1)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise EmptyTextError(int(zero[0]), "has no embeddable token")
        unit = raw / norms[:, None]
        out: list[list[float]] = unit.tolist()
        return out

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        """Embed off the event loop; see the class docstring for errors."""
        frozen = tuple(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            checked = check_texts(frozen)
            if isinstance(checked, Err):
                return checked
            if not checked.value:
                return Ok([])
            try:
                return Ok(
                    await run_blocking(lambda: self.embed_sync(frozen), executor=self._executor)
                )
            except EmptyTextError as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc, code=codes.EMPTY_INPUT, path=(exc.index,), ctx={"index": exc.index}
                    )
                )
            except (ImportError, OSError) as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc,
                        code=codes.UNSUPPORTED,
                        msg=f"static embedding model unavailable: {exc}",
                    )
                )
            except Exception as exc:
                return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))

        return _run
