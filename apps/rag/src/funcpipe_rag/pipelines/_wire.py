"""The plain data a distributed run ships: prepared documents and their chunk records, and the
inverse (a malformed result is one ``UNEXPECTED`` error at its key, never an exception)."""

from __future__ import annotations

from funcpipe.result import Err, ErrInfo, Ok, codes

from funcpipe_rag.domain import ChunkRecord, Document, Locator, SyncContext

from ._shards import Plain, PreparedList
from ._types import STAGE_CLUSTER, Prepared, Unchanged


def _record_plain(r: ChunkRecord) -> Plain:
    headings: list[Plain] = list(r.headings)
    locator: list[Plain] = [[k, v] for k, v in r.locator]  # an 11th field, when there is one
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
        *([locator] if locator else []),
    ]


def _record_of(data: object, embedder: str, spec_hash: str) -> ChunkRecord:
    if not isinstance(data, list) or len(data) not in (10, 11):
        raise ValueError("a chunk record is malformed")
    id_, source, version, chash, occ, start, end, text, title, headings = data[:10]
    locator = _locator_of(data[10] if len(data) == 11 else [])
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
        locator,
    )


def _locator_of(data: object) -> Locator:
    if not isinstance(data, list):
        raise ValueError("a chunk record's locator is malformed")
    out: list[tuple[str, int | str]] = []
    for p in data:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)):
            raise ValueError("a chunk record's locator is malformed")
        k, v = p
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ValueError("a chunk record's locator is malformed")
        out.append((k, v))
    return tuple(out)


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
