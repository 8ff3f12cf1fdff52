"""The ingest's typed composition: the spec's ops over one run, as stream transformers that
mypy checks end to end (``AsyncGen[RawSource]`` -> ... -> ``AsyncGen[Outcome | Halt]``)."""

from __future__ import annotations

from collections.abc import Callable

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Ok
from funcpipe.specs import StageEnv, batch_stage, flat_map_stage, map_stage
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import Document, RawSource, SourcePlan, SyncContext

from ._halts import passing_halts
from ._reuse import VectorReuse
from ._session import RunConfig, StoreSession
from ._shards import PreparedList
from ._stages import (
    EmbedOut,
    Parsed,
    Planned,
    embed_group,
    plan_group,
    plan_prepared,
    read_source,
    to_items,
)
from ._types import Halt, Outcome, Prepared, Ready, Unchanged
from ._write import Written, write_sources

Ingest = Callable[[AsyncGen[RawSource]], AsyncGen[Outcome | Halt]]
"""The ingest's stages composed: every source to its outcome (or a ``Halt``)."""


def describe_ingest(cfg: RunConfig, store: StoreSession, seen: set[str], env: StageEnv) -> Ingest:
    """The typed composition of the spec's ops over a run: read (``Parsed``) -> docs
    (``Document | Unchanged``) -> plan (``SourcePlan``) -> embed (``Ready``) -> write
    (``Outcome | Halt``), each op's policies from the settings; plan, embed and write apply
    their retry and timeout per store call and per request (``resilient=False``)."""
    s = cfg.settings
    ctx = SyncContext(cfg.embedder.identity, s.spec_hash, s.chunking)

    def read(raw: RawSource) -> AsyncPlan[Parsed]:
        return read_source(raw, seen=seen, store=store, cfg=cfg)

    def docs(parsed: Parsed) -> AsyncGen[Document | Unchanged]:
        return to_items(parsed)

    def plan(group: list[Document | Unchanged]) -> AsyncPlan[Planned]:
        return plan_group(group, ctx=ctx, store=store, cfg=cfg)

    # the run's vector reuse (the ledger is the cache), reading the store once it is open
    reuse = VectorReuse(str(cfg.embedder.identity), lambda: None if store.fresh else store.index)

    def embed(plans: list[SourcePlan]) -> AsyncPlan[EmbedOut]:
        return embed_group(plans, cfg=cfg, reuse=reuse)

    def write(group: list[Ready]) -> AsyncPlan[Written]:
        return write_sources(group, store=store, cfg=cfg)

    read_s = map_stage(s.read, read, env)
    docs_s = flat_map_stage(s.docs, docs, env)
    plan_s = batch_stage(s.plan, plan, env, resilient=False)
    embed_s = batch_stage(s.embed, embed, env, resilient=False)
    write_s = batch_stage(s.write, write, env, resilient=False)
    return lambda sources: write_s(embed_s(plan_s(docs_s(read_s(sources)))))


Prepare = Callable[[AsyncGen[PreparedList | Halt]], AsyncGen[Outcome | Halt]]
"""A distributed run's command side: prepared sources to their outcomes (a ``Halt`` passes
through every stage to the end)."""


def describe_prepared(cfg: RunConfig, store: StoreSession, env: StageEnv) -> Prepare:
    """The command's stages of a distributed run: workers already read, parsed and chunked
    (``remote_sources``), so docs -> plan (``plan_prepared``) -> embed -> write, as above."""
    s = cfg.settings
    ctx = SyncContext(cfg.embedder.identity, s.spec_hash, s.chunking)

    def docs(item: PreparedList | Halt) -> AsyncGen[Prepared | Halt]:
        return to_items([Ok(item)] if isinstance(item, Halt) else item)

    def plan(group: list[Prepared]) -> AsyncPlan[Planned]:
        return plan_prepared(group, ctx=ctx, store=store, cfg=cfg)

    def embed(plans: list[SourcePlan]) -> AsyncPlan[EmbedOut]:
        return embed_group(plans, cfg=cfg)

    def write(group: list[Ready]) -> AsyncPlan[Written]:
        return write_sources(group, store=store, cfg=cfg)

    docs_s = flat_map_stage(s.docs, docs, env)
    plan_s = batch_stage(s.plan, passing_halts(plan), env, resilient=False)
    embed_s = batch_stage(s.embed, passing_halts(embed), env, resilient=False)
    write_s = batch_stage(s.write, passing_halts(write), env, resilient=False)
    return lambda prepared: write_s(embed_s(plan_s(docs_s(prepared))))
