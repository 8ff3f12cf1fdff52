"""Support for the app laws (test_laws_app.py): drawn file trees, the loopback embedder with a
per-request fault schedule, in-process CLI runs, and reading the store back.

Black-box on purpose: the app is driven only through ``funcpipe-rag ... --json`` (typer's
CliRunner, in process) with a spec derived from ``spec show`` and sealed with ``spec seal``;
the store is read back through the library's ``EdgeStore`` adapter (every point's id and
payload). Nothing here imports the app's internals, so the suite runs unchanged against a
rewritten ingest.

Unreadable files and folders are real: ``chmod 000``. The suite runs as root on the build
machines, where permissions do not apply, so each app run is made with CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH lowered (see ``unprivileged``). When the process is not root, permissions
apply as they are; when it is root but cannot lower them, unreadable cases are not drawn
(``UNREADABLE_OK``) and the share check for them is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from funcpipe.testing.embeddings_server import EmbeddingsServer, Exchange, Fault
from funcpipe_rag.cli import cli
from typer.testing import CliRunner

DIM = 32
MODEL = "laws-hash-32"
COLLECTION = "laws"
TIMEOUT_MS = 1000
"""The spec's per-call timeout: what a hung request costs. Well above any healthy answer on a
loaded 2-core machine: an answer the client gave up on is counted as served by the server,
and its retry would then read as a success sent twice."""

# -- the loopback embedder -------------------------------------------------------------------


def hash_vector(text: str, dim: int = DIM) -> list[float]:
    """A deterministic unit vector per text (the server's model)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    while len(digest) < dim:
        digest += hashlib.sha256(digest).digest()
    v = [(b - 127.5) / 127.5 for b in digest[:dim]]
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


FAULT_KINDS = ("429", "429-no-header", "500", "503", "drop", "slow", "hang", "malformed")
"""What a request can get: rate limited (Retry-After 0 / none), 5xx, a dropped connection, a
slow answer under the timeout, a hang past it, a 200 that is not JSON."""


def make_fault(kind: str) -> Fault:
    if kind == "429":
        return Fault.rate_limited(retry_after=0)
    if kind == "429-no-header":
        return Fault.rate_limited()
    if kind in ("500", "503"):
        return Fault.status_error(int(kind))
    if kind == "drop":
        return Fault.drop()
    if kind == "slow":
        return Fault.slow(0.01)
    if kind == "hang":
        return Fault.hang()
    if kind == "malformed":
        return Fault.malformed_json()
    raise ValueError(kind)


def request_slot(texts: Sequence[str], slots: int) -> int:
    """Which row of a drawn schedule a request follows: by its content, so the schedule does
    not depend on the order in which concurrent requests arrive."""
    h = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(h[:4], "big") % slots


class Schedule:
    """``rows[slot][attempt]``: the fault kind of a request's attempt (``None``: none)."""

    def __init__(self) -> None:
        self.rows: tuple[tuple[str, ...], ...] = ()
        self._lock = threading.Lock()

    def set(self, rows: Sequence[Sequence[str]]) -> None:
        with self._lock:
            self.rows = tuple(tuple(r) for r in rows)

    def __call__(self, texts: Sequence[str], attempt: int) -> Fault | None:
        with self._lock:
            rows = self.rows
        if not rows or not texts:
            return None
        row = rows[request_slot(texts, len(rows))]
        return make_fault(row[attempt]) if attempt < len(row) else None


# -- the spec the suite runs -----------------------------------------------------------------


def _tune_policies(doc: dict[str, Any]) -> None:
    def retry(r: dict[str, Any]) -> None:
        r["backoff_base_ms"] = 0
        r["max_backoff_ms"] = 0
        r["jitter_factor"] = 0.0
        r["max_attempts"] = min(int(r.get("max_attempts", 4)), 4)

    for pol in doc.get("policies", {}).values():
        if (
            isinstance(pol, dict)
            and pol.get("kind") == "retry"
            and isinstance(pol.get("config"), dict)
        ):
            retry(pol["config"])
    for op in doc.get("ops", []):
        pols = op.get("policies") or {}
        if isinstance(pols.get("retry"), dict):
            retry(pols["retry"])
        if isinstance(pols.get("timeout"), dict):
            pols["timeout"]["timeout_ms"] = TIMEOUT_MS
        params = op.get("params") or {}
        if "chunk_chars" in params:
            params["chunk_chars"] = 90
            if "chunk_overlap" in params:
                params["chunk_overlap"] = 0
            if isinstance(pols.get("chunk"), dict):
                pols["chunk"]["max_units"] = 4
        if "embed_batch" in params:
            params["embed_batch"] = 2  # a group of chunks is several requests
            if isinstance(pols.get("chunk"), dict):
                pols["chunk"]["max_units"] = 6


def write_spec(folder: Path) -> Path:
    """The default spec (``spec show``) with tiny backoffs and timeouts, small chunks and
    embedding requests of 2 texts in groups of up to 6, sealed with ``spec seal``."""
    runner = CliRunner()
    shown = runner.invoke(cli, ["spec", "show", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    _tune_policies(doc)
    draft = folder / "laws-spec-draft.json"
    draft.write_text(json.dumps(doc))
    sealed = runner.invoke(cli, ["spec", "seal", str(draft)])
    assert sealed.exit_code == 0, sealed.output
    spec = folder / "laws-spec.json"
    spec.write_text(sealed.stdout)
    checked = runner.invoke(cli, ["spec", "validate", str(spec)])
    assert checked.exit_code == 0, checked.output
    return spec


# -- unprivileged runs -----------------------------------------------------------------------

_CAP_VERSION_3 = 0x20080522
_DAC_CAPS = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _set_dac_caps(on: bool) -> bool:
    """Raise or lower CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH in this thread's effective set
    (they stay permitted, so they can be raised again)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return False
    if on:
        data[0].effective |= data[0].permitted & _DAC_CAPS
    else:
        data[0].effective &= ~_DAC_CAPS
    return bool(libc.capset(ctypes.byref(header), data) == 0)


def _can_drop_privileges() -> bool:
    if os.geteuid() != 0:
        return True
    return _set_dac_caps(False) and _set_dac_caps(True)


UNREADABLE_OK = _can_drop_privileges()


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the body without the capabilities that let root ignore file permissions.

    Capabilities are per thread and a new thread inherits its creator's: the app runs on this
    (the main) thread, and the threads it reads files on (its event loop's default executor,
    made fresh for each command) are started from it while the capabilities are lowered. The
    process stays uid 0, so what it creates is owned as usual and the interpreter's own files
    stay readable.
    """
    if os.geteuid() != 0 or not UNREADABLE_OK:
        yield
        return
    _set_dac_caps(False)
    try:
        yield
    finally:
        _set_dac_caps(True)


@contextlib.contextmanager
def disk_full() -> Iterator[None]:
    """``os.statvfs`` (and so ``shutil.disk_usage``) reports no free space anywhere."""
    real = os.statvfs

    def full(path: Any) -> os.statvfs_result:
        r = real(path)
        return os.statvfs_result(
            (r.f_bsize, r.f_frsize, r.f_blocks, 0, 0, r.f_files, 0, 0, r.f_flag, r.f_namemax)
        )

    os.statvfs = full
    try:
        yield
    finally:
        os.statvfs = real


# -- file trees ------------------------------------------------------------------------------

SUPPORTED = (b".md", b".txt", b".rst")
UNSUPPORTED = b".bin"  # inside a walked folder: skipped and counted, never stored


@dataclass(frozen=True)
class File:
    """One drawn file: ``rel`` is its path under the example's base (bytes: names need not
    be UTF-8), ``token`` a word only its text contains, ``body`` its paragraphs."""

    rel: bytes
    token: str
    body: tuple[str, ...]
    bad_encoding: bool = False

    @property
    def root(self) -> bytes:
        return self.rel.split(b"/", 1)[0]

    @property
    def supported(self) -> bool:
        return self.rel.endswith(SUPPORTED)

    @property
    def folders(self) -> list[bytes]:
        """Every folder from its root down to its parent."""
        parts = self.rel.split(b"/")[:-1]
        return [b"/".join(parts[: i + 1]) for i in range(len(parts))]

    def content(self) -> bytes:
        text = "\n\n".join(f"{self.token} part {i}: {p}." for i, p in enumerate(self.body))
        data = (text + "\n").encode("utf-8")
        if self.bad_encoding:
            data = data.replace(b": ", b": \xff\xfe\x80 ", 1)
        return data


@dataclass
class Tree:
    """A drawn tree: files by path, the roots given to ``ingest``, unreadable entries."""

    files: dict[bytes, File] = field(default_factory=dict)
    roots: tuple[bytes, ...] = (b"r0",)
    unreadable: frozenset[bytes] = frozenset()  # files and folders (chmod 000 during a run)
    vanished: frozenset[bytes] = frozenset()  # roots that do not exist

    def copy(self) -> Tree:
        return replace(self, files=dict(self.files))

    def write(self, base: Path) -> None:
        """Make ``base`` hold exactly this tree (every entry readable)."""
        b = os.fsencode(base)
        for root in self.roots:
            p = os.path.join(b, root)
            if os.path.lexists(p):
                _make_readable(p)
                shutil.rmtree(p)
        for f in self.files.values():
            if f.root in self.vanished:
                continue
            path = os.path.join(b, f.rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(f.content())
        for root in self.roots:
            if root not in self.vanished:
                os.makedirs(os.path.join(b, root), exist_ok=True)

    def lock(self, base: Path) -> None:
        b = os.fsencode(base)
        for rel in self.unreadable:
            p = os.path.join(b, rel)
            if os.path.exists(p):
                os.chmod(p, 0)

    def unlock(self, base: Path) -> None:
        _make_readable(os.path.join(os.fsencode(base), b""))

    def expected_present(self) -> set[str]:
        """Tokens a clean run must store: supported, valid text, root there."""
        return {
            f.token
            for f in self.files.values()
            if f.supported and not f.bad_encoding and f.root not in self.vanished
        }

    def protected(self, f: File) -> bool:
        """True when ``f`` lies under a root or folder that is missing or fails to list, or
        is itself unreadable: a run must not prune it even if it is gone."""
        return (
            f.root in self.vanished
            or f.rel in self.unreadable
            or any(d in self.unreadable for d in f.folders)
        )


def _make_readable(path: bytes) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o755)
        for dirpath, dirnames, filenames in os.walk(path):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
            for n in filenames:
                os.chmod(os.path.join(dirpath, n), 0o644)
    else:
        os.chmod(path, 0o644)


# -- running the app -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    exit_code: int
    report: dict[str, Any] | None  # the --json object, when one was printed
    stderr: str
    exchanges: tuple[Exchange, ...]
    crashed: BaseException | None

    def ok_texts(self) -> Counter[str]:
        """How many times each text was in a successful embedding request."""
        return Counter(t for ex in self.exchanges if ex.ok for t in ex.texts)


class App:
    """One loopback embedder and one sealed spec for the whole session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.schedule = Schedule()
        self.server = EmbeddingsServer(
            lambda texts: [hash_vector(t) for t in texts],
            model=MODEL,
            fault_for=self.schedule,
            honour_dimensions=False,  # a model with one native dimension
        )
        self.spec = write_spec(workdir)
        (workdir / "no-ca").mkdir(exist_ok=True)
        self.runner = CliRunner()

    def close(self) -> None:
        self.server.close()

    def env(self, *, model: str = MODEL, dim: int | None = DIM) -> dict[str, str | None]:
        keep = {
            "FUNCPIPE_EMBED_URL": self.server.base_url,
            "FUNCPIPE_EMBED_MODEL": model,
            "FUNCPIPE_EMBED_DIM": None if dim is None else str(dim),
        }
        unset = {k: None for k in os.environ if k.startswith("FUNCPIPE_")}
        # Loopback only, no TLS: an empty CA dir is loaded lazily (certifi's bundle costs
        # ~85 ms per HTTP client, per command).
        tls = {"SSL_CERT_FILE": None, "SSL_CERT_DIR": str(self.workdir / "no-ca")}
        return {**unset, **keep, **tls}

    def new_base(self) -> Path:
        base = Path(tempfile.mkdtemp(prefix="ex-", dir=self.workdir))
        return base

    def cli(
        self,
        base: Path,
        args: Sequence[str],
        *,
        faults: Sequence[Sequence[str]] = (),
        model: str = MODEL,
        dim: int | None = DIM,
        full_disk: bool = False,
    ) -> Run:
        """``funcpipe-rag ARGS --data-dir data --collection laws`` in ``base``, in process."""
        self.schedule.set(faults)
        self.server.reset()
        argv = [*args, "--data-dir", "data", "--collection", COLLECTION]
        cwd = os.getcwd()
        os.chdir(base)
        try:
            with unprivileged(), disk_full() if full_disk else contextlib.nullcontext():
                res = self.runner.invoke(cli, argv, env=self.env(model=model, dim=dim))
        finally:
            os.chdir(cwd)
            self.schedule.set(())
        report: dict[str, Any] | None = None
        line = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
        if line.startswith("{"):
            report = json.loads(line)
        crashed = None if isinstance(res.exception, SystemExit | None) else res.exception
        return Run(res.exit_code, report, res.stderr, tuple(self.server.exchanges), crashed)

    def ingest(
        self,
        base: Path,
        roots: Sequence[bytes],
        *,
        prune: bool = False,
        dry_run: bool = False,
        **kw: Any,
    ) -> Run:
        args = ["ingest", *(os.fsdecode(r) for r in roots), "--spec", str(self.spec), "--json"]
        args += ["--prune"] if prune else []
        args += ["--dry-run"] if dry_run else []
        return self.cli(base, args, **kw)

    def verify(self, base: Path) -> Run:
        return self.cli(base, ["verify", "--json"])


# -- the store, read back --------------------------------------------------------------------

VOLATILE = ("time", "_at", "date", "run_id")
"""Payload fields whose name contains one of these are volatile (not compared)."""

Snapshot = dict[str, dict[str, Any]]


def snapshot(base: Path) -> Snapshot:
    """Every point of the collection: id -> payload minus volatile fields ({} if none)."""
    root = base / "data" / "edge"
    if not (root / COLLECTION).exists():
        return {}
    from funcpipe.adapters.edge import EdgeStore

    async def _read() -> Snapshot:
        store = EdgeStore(root)
        out: Snapshot = {}
        try:
            async for item in store.scroll(COLLECTION, page_size=1024)():
                rec = item.unwrap()
                out[rec.id] = {
                    k: v for k, v in rec.payload.items() if not any(s in k for s in VOLATILE)
                }
        finally:
            await store.close()()
        return out

    with unprivileged():
        return asyncio.run(_read())


def tokens_by_source(snap: Mapping[str, Mapping[str, Any]], tokens: set[str]) -> dict[str, str]:
    """token -> the source key of the points whose text holds it."""
    out: dict[str, str] = {}
    for payload in snap.values():
        text = " ".join(v for v in payload.values() if isinstance(v, str))
        for word in text.split():
            if word in tokens and isinstance(payload.get("source"), str):
                out[word] = str(payload["source"])
    return out


def stored_tokens(snap: Mapping[str, Mapping[str, Any]], tokens: set[str]) -> set[str]:
    return set(tokens_by_source(snap, tokens))


def duplicates(snap: Mapping[str, Mapping[str, Any]]) -> list[tuple[object, ...]]:
    """Chunk points that say the same thing twice: same source, offsets and text."""
    seen: Counter[tuple[object, ...]] = Counter()
    for p in snap.values():
        if isinstance(p.get("text"), str):
            seen[(p.get("source"), p.get("start"), p.get("end"), p.get("text"))] += 1
    return [k for k, n in seen.items() if n > 1]


def remove_tree(path: Path) -> None:
    _make_readable(os.fsencode(path))
    shutil.rmtree(path, ignore_errors=True)


def is_dir_mode(path: Path) -> bool:
    return stat.S_ISDIR(path.stat().st_mode)
