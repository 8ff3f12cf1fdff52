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
    ChunkRecord,
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

    async def _run() -> Result[PreparedList, ErrInfo]:
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
            out.append(Ok(Prepared(replace(doc, text=""), desired_records(doc, ctx))))
        return Ok(out)

    return _run


# -- the wire: plain data ----------------------------------------------------------------------


def _record_plain(r: ChunkRecord) -> Plain:
    headings: list[Plain] = list(r.headings)
    return [
        r.id,
        r.source,
        r.doc_version,
        r.chunk_hash,
        r.occurrence,
        r.start,
        r.end,
        r.text,
        r.title,
        headings,
    ]


def _record_of(data: object, embedder: str, spec_hash: str) -> ChunkRecord:
    if not isinstance(data, list) or len(data) != 10:
        raise ValueError("a chunk record is malformed")
    id_, source, version, chash, occ, start, end, text, title, headings = data
    strs = (id_, source, version, chash, text, title)
    ints = (occ, start, end)
    if not all(isinstance(s, str) for s in strs) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ints
    ):
        raise ValueError("a chunk record has a field of the wrong type")
    if not isinstance(headings, list) or not all(isinstance(h, str) for h in headings):
        raise ValueError("a chunk record's headings are not a list of str")
    return ChunkRecord(
        str(id_),
        str(source),
        str(version),
        str(chash),
        int(str(occ)),
        int(str(start)),
        int(str(end)),
        str(text),
        embedder,
        spec_hash,
        str(title),
        tuple(str(h) for h in headings),
    )


def prepared_to_plain(items: PreparedList) -> Plain:
    """One source's results as plain data (``{"ok": ...}`` / ``{"err": ...}`` per item)."""
    out: list[Plain] = []
    for r in items:
        if isinstance(r, Err):
            e = r.error
            path: list[Plain] = list(e.path)
            out.append({"err": {"code": e.code, "msg": e.msg, "stage": e.stage, "path": path}})
            continue
        d = r.value.doc
        if isinstance(d, Unchanged):
            out.append({"unchanged": [d.source, d.doc_version]})
            continue
        doc: Plain = [d.source, d.version, d.kind, d.title, d.raw_hash]
        out.append({"ok": {"doc": doc, "records": [_record_plain(x) for x in r.value.records]}})
    return out


def prepared_of(data: object, ctx: SyncContext, key: str) -> PreparedList:
    """The inverse of ``prepared_to_plain`` (records get ``ctx``'s embedder and spec hash);
    malformed data is one UNEXPECTED error at ``key``."""
    try:
        return _decode(data, str(ctx.embedder), ctx.spec_hash, key)
    except ValueError as exc:
        msg = f"a malformed shard result ({exc})"
        return [Err(ErrInfo(codes.UNEXPECTED, msg, STAGE_CLUSTER, (key,)))]


def _decode(data: object, embedder: str, spec_hash: str, key: str) -> PreparedList:
    if not isinstance(data, list):
        raise ValueError("not a list")
    out: PreparedList = []
    for entry in data:
        if not isinstance(entry, dict):
            raise ValueError("an entry is not a mapping")
        if "err" in entry:
            e = entry["err"]
            if not isinstance(e, dict):
                raise ValueError("an error is not a mapping")
            raw_path = e.get("path")
            path = tuple(
                p for p in (raw_path if isinstance(raw_path, list) else []) if isinstance(p, str)
            )
            info = ErrInfo(
                str(e.get("code", codes.UNEXPECTED)),
                str(e.get("msg", "")),
                str(e.get("stage", "")),
                path or (key,),
            )
            out.append(Err(info))
            continue
        if "unchanged" in entry:
            same = entry["unchanged"]
            if not isinstance(same, list) or [type(x) for x in same] != [str, str]:
                raise ValueError("an unchanged source is malformed")
            out.append(Ok(Prepared(Unchanged(str(same[0]), str(same[1])))))
            continue
        ok = entry.get("ok")
        if not isinstance(ok, dict):
            raise ValueError("an entry is neither ok nor err")
        doc, records = ok.get("doc"), ok.get("records")
        if not isinstance(doc, list) or len(doc) != 5 or not all(isinstance(x, str) for x in doc):
            raise ValueError("a document is malformed")
        if not isinstance(records, list):
            raise ValueError("records are not a list")
        source, version, kind, title, raw_hash = (str(x) for x in doc)
        document = Document(source, "", version, kind, title, raw_hash)
        recs = tuple(_record_of(r, embedder, spec_hash) for r in records)
        out.append(Ok(Prepared(document, recs)))
    return out


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
