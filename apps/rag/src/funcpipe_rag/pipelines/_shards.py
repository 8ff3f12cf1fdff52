"""The ingest split for a cluster: workers read, parse and chunk shards of many sources; the
command plans against the store, embeds through the cluster and is the one writer.

``prepare_source`` is the worker's stage (read -> parse -> chunk, no store, no embedding).
What crosses the wire is plain data (``ShardItem`` out, ``Prepared`` back) through the codecs
here. ``remote_sources`` is the command's front of the ingest: it walks the sources, ships
them in shards to a ``ShardRunner`` (the port a cluster adapter implements) and yields each
source's prepared documents in walk order, so the rest of the ingest (plan, embed, write) is
the single-process one. A task run twice gives the same plain result (the stage is a pure
function of the file's bytes and the shard's data), so at-least-once execution is harmless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeAlias

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import (
    SUPPORTED_EXTENSIONS,
    BinarySource,
    CommitRecord,
    Document,
    Embedder,
    RawSource,
    Stage,
    SyncContext,
    desired_records,
    is_url,
    kind_of,
    looks_like_html,
    parse_text,
    sha256_hex,
)

from ._extract import read_binary
from ._session import StoreSession
from ._types import SPEC_CODES, STAGE_CLUSTER, Halt, Prepared, Unchanged

"""Codes of a shard task that end the run (the spec or the workers' setup is wrong: every
shard would fail the same way), never one source's failure."""

Plain: TypeAlias = "str | int | float | bool | list[Plain] | dict[str, Plain] | None"


@dataclass(frozen=True, slots=True)
class Known:
    """What the command knows of a source's current commit marker: the raw text's hash it was
    written from and its document version (a worker reading the same raw text skips parsing)."""

    raw_hash: str
    doc_version: str


@dataclass(frozen=True, slots=True)
class ShardItem:
    """One source to prepare: its key, where a worker reads it (an absolute path or a URL),
    its current commit marker's ``Known`` when there is one, and whether it is ``fresh`` (no
    marker at all: every chunk is new, so a worker may embed them all at once)."""

    key: str
    location: str
    known: Known | None = None
    fresh: bool = False

    def to_plain(self) -> Plain:
        known: Plain = [self.known.raw_hash, self.known.doc_version] if self.known else None
        return {"key": self.key, "loc": self.location, "known": known, "fresh": self.fresh}

    @staticmethod
    def from_plain(data: object) -> ShardItem:
        """ValueError when ``data`` is not an encoded ``ShardItem``."""
        if not isinstance(data, dict):
            raise ValueError("a shard item is not a mapping")
        key, loc, known = data.get("key"), data.get("loc"), data.get("known")
        fresh = data.get("fresh") is True
        if not isinstance(key, str) or not isinstance(loc, str):
            raise ValueError("a shard item without key or location")
        if known is None:
            return ShardItem(key, loc, None, fresh)
        if (
            not isinstance(known, list)
            or len(known) != 2
            or not all(isinstance(k, str) for k in known)
        ):
            raise ValueError("a shard item's known marker is malformed")
        return ShardItem(key, loc, Known(str(known[0]), str(known[1])), fresh)


@dataclass(frozen=True, slots=True)
class Shard:
    """A unit of cluster work: a stable key and its sources."""

    key: str
    items: tuple[ShardItem, ...]


PreparedList = list[Result[Prepared, ErrInfo]]
"""What preparing one source gives: its documents, or per-document errors."""


@dataclass(frozen=True, slots=True)
class ShardDone:
    """A shard's results: one ``PreparedList`` per item, in the shard's order."""

    key: str
    prepared: tuple[PreparedList, ...]


class ShardRunner(Protocol):
    """The cluster as the ingest sees it (implemented by the app over Dask)."""

    def locate(self, raw: RawSource) -> str | None:
        """Where a worker can read ``raw`` (absolute path or URL); ``None``: it cannot."""
        ...

    def run(self, shards: Iterable[Shard]) -> AsyncGen[ShardDone]:
        """Each shard's results in completion order; a failed task is an ``Err`` whose
        ``path[0]`` is the shard's key."""
        ...


def prepare_source(
    raw: RawSource, known: Known | None, *, max_bytes: int, ctx: SyncContext
) -> AsyncPlan[PreparedList]:
    """The worker's stage: read, parse and chunk one source (what ``read_source`` and the
    plan's chunking do in one process). Errors are per source (its key in ``path[0]``)."""

    async def _known(key: str, raw_hash: str) -> str | None:
        return known.doc_version if known is not None and known.raw_hash == raw_hash else None

    async def _run() -> Result[PreparedList, ErrInfo]:
        if isinstance(raw, BinarySource):  # round 3 documents: PDF, DOCX, plug-ins
            parsed = await read_binary(raw, max_bytes, _known)
            return Ok([Ok(_prepared(r.value, ctx)) if isinstance(r, Ok) else r for r in parsed])
        got = await raw.read(max_bytes)()
        if isinstance(got, Err):
            e = got.error
            return Ok([Err(ErrInfo(e.code, e.msg, Stage.READ, (raw.key,), e.cause, e.ctx))])
        kind = kind_of(raw.key)
        if kind is None:
            exts = " ".join(sorted(SUPPORTED_EXTENSIONS))
            msg = f"unsupported file type; supported: {exts}"
            return Ok([Err(ErrInfo(codes.UNSUPPORTED, msg, Stage.PARSE, (raw.key,)))])
        if kind == "txt" and is_url(raw.key) and looks_like_html(got.value):
            kind = "html"
        raw_hash = sha256_hex(got.value)
        if known is not None and known.raw_hash == raw_hash:
            return Ok([Ok(Prepared(Unchanged(raw.key, known.doc_version)))])
        docs = parse_text(raw.key, got.value, kind)
        single = len(docs) == 1 and isinstance(docs[0], Ok) and docs[0].value.source == raw.key
        out: PreparedList = []
        for r in docs:
            if isinstance(r, Err):
                out.append(r)
                continue
            doc = replace(r.value, raw_hash=raw_hash) if single else r.value
            out.append(Ok(Prepared(replace(doc, text="", view=None), desired_records(doc, ctx))))
        return Ok(out)

    return _run


def _prepared(doc: Document | Unchanged, ctx: SyncContext) -> Prepared:
    """A read document with its chunk records, or an unchanged source (current: nothing)."""
    if isinstance(doc, Unchanged):
        return Prepared(doc)
    return Prepared(replace(doc, text="", marks=None, view=None), desired_records(doc, ctx))


# -- the command's front -----------------------------------------------------------------------


def known_of(commit: CommitRecord | None, ctx: SyncContext) -> Known | None:
    """The ``Known`` a worker gets for a source: only a marker written from a raw text by this
    embedder and spec (as ``read_source`` checks it)."""
    if commit is None or not commit.raw_hash:
        return None
    if commit.embedder != str(ctx.embedder) or commit.spec_hash != ctx.spec_hash:
        return None
    return Known(commit.raw_hash, commit.doc_version)


def shards_of(items: Sequence[ShardItem], size: int) -> list[Shard]:
    """Consecutive shards of at most ``size`` items (keys ``shard-<index>``).

    Laws: the shards cover ``items`` in order exactly once; none is empty."""
    if size < 1:
        raise ValueError(f"shard size must be >= 1, got {size}")
    return [
        Shard(f"shard-{n}", tuple(items[i : i + size]))
        for n, i in enumerate(range(0, len(items), size))
    ]


def remote_sources(
    sources: AsyncGen[RawSource],
    runner: ShardRunner,
    *,
    store: StoreSession,
    ctx: SyncContext,
    seen: set[str],
    shard_size: int,
    embed_fresh: bool = True,
) -> AsyncGen[PreparedList | Halt]:
    """The command's front: every source prepared on the cluster, in walk order.

    Waits for the store to be open (nothing is shipped before the commit markers are known),
    walks the sources (a walk error passes through as it comes), drops a source found twice
    (``seen``), ships the rest in shards of ``shard_size`` (a source without a commit marker
    is ``fresh`` when ``embed_fresh``: workers embed its chunks too) and yields one
    ``PreparedList`` per source in walk order (a shard finished early waits for the ones
    before it). A shard whose task failed fails each of its sources (stage ``cluster``, a
    backend failure); a failure with a spec code (``SPEC_CODES``: e.g. HASH_MISMATCH on a
    tampered spec) ends the stream with a ``Halt`` before anything more is yielded.
    Closing the stream early cancels
    the tasks in flight (the runner's stream is closed).
    """

    async def _gen() -> AsyncIterator[Result[PreparedList | Halt, ErrInfo]]:
        if (await store.ready()).is_err():
            return  # the ingest reports the opening's error
        commits = store.commits
        items: list[ShardItem] = []
        async for r in sources():
            if isinstance(r, Err):
                yield r
                continue
            raw = r.value
            if raw.key in seen:
                continue
            seen.add(raw.key)
            where = runner.locate(raw)
            if where is None:
                msg = "a worker cannot read this source (not a file path or URL)"
                yield Ok([Err(ErrInfo(codes.UNSUPPORTED, msg, Stage.READ, (raw.key,)))])
                continue
            marker = commits.get(raw.key)
            fresh = embed_fresh and marker is None
            items.append(ShardItem(raw.key, where, known_of(marker, ctx), fresh))
        shards = shards_of(items, shard_size)
        index = {s.key: n for n, s in enumerate(shards)}
        pending: dict[int, Sequence[PreparedList]] = {}
        nxt = 0
        it = runner.run(shards)()
        try:
            async for done in it:
                if isinstance(done, Err):
                    e = done.error
                    at = index.get(str(e.path[0])) if e.path else None
                    if e.code in SPEC_CODES or e.stage == Stage.CONFIG or at is None:
                        yield Ok(Halt(ErrInfo(e.code, e.msg, e.stage or STAGE_CLUSTER, ())))
                        return
                    if at < nxt or at in pending:
                        continue
                    pending[at] = [
                        [Err(ErrInfo(e.code, e.msg, STAGE_CLUSTER, (i.key,), e.cause))]
                        for i in shards[at].items
                    ]
                else:
                    got = done.value
                    at = index[got.key]
                    if at < nxt or at in pending:
                        continue  # a task run twice: its first result is the one kept
                    fatal = _fatal_in(got)
                    if fatal is not None:
                        yield Ok(Halt(fatal))
                        return
                    pending[at] = got.prepared
                while nxt in pending:
                    for prepared in pending.pop(nxt):
                        yield Ok(prepared)
                    nxt += 1
        finally:
            await close_stream(it)

    return _gen


def _fatal_in(done: ShardDone) -> ErrInfo | None:
    for prepared in done.prepared:
        for r in prepared:
            if isinstance(r, Err) and (r.error.code in SPEC_CODES or r.error.stage == Stage.CONFIG):
                e = r.error
                return ErrInfo(e.code, e.msg, e.stage, ())
    return None


@dataclass(frozen=True, slots=True)
class Remote:
    """How an ingest runs on a cluster: the shard runner, an embedder that embeds there (the
    command's identity), sources per shard, and embedding requests in flight per group."""

    runner: ShardRunner
    embedder: Embedder
    shard_size: int = 16
    embed_concurrency: int = 2
