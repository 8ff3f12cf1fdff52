"""The pipeline laws of seed M08C10 on the real app (``funcpipe-rag ingest ... --json``).

Each example draws a file tree (nested folders; odd, non-UTF-8, ``#``, ``%``, backslash and
unsupported names; files with invalid UTF-8), ingests it cleanly (run A), then changes it
(edits, deletions, new files, roots that vanish), makes files and folders unreadable, draws a
per-request fault schedule for the loopback OpenAI-compatible embedder (429 with Retry-After
0 or none, 500/503, dropped connections, slow answers, hangs past the timeout, non-JSON 200s;
rows long enough to exhaust the retries stop a group: a crash-like partial run) and runs the
faulty ingest (run B, with or without ``--prune``), then a clean re-run (run C).

Laws checked:

- no loss: a clean run stores every supported, valid file (A); no run loses a committed
  source unless its file is known to be gone and ``--prune`` was given (a file under a
  vanished root or an unreadable folder, or itself unreadable, is not known to be gone) (B, C);
- no duplication: no two points say the same thing (same source, offsets and text) (A, B, C);
- at-most-once success: each text is in at most one successful embedding request per run,
  counted at the server (B, C);
- partial-run safety / convergence: after B and the clean re-run C, the store equals a clean
  run's over the expected tree, on a fresh store (ids and payloads, so counts too), and
  ``verify`` is ok.

``max(200, profile max_examples)`` examples (ci: 200, deep: 5,000); the shares of the
interesting cases are asserted at the end (``pytest tests/laws/test_laws_app.py -s`` prints
them). Everything runs in process against one loopback server; each example has its own
store in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

# --import-mode=importlib puts nothing on sys.path: the repository root, for the helper beside
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.laws._app_support import (
    FAULT_KINDS,
    UNREADABLE_OK,
    App,
    File,
    Run,
    Tree,
    duplicates,
    remove_tree,
    snapshot,
    stored_tokens,
    tokens_by_source,
)

pytestmark = pytest.mark.slow  # on the first Python of make test only (README)

EXAMPLES = max(200, settings().max_examples)


DIRS = [b"d", b"sub dir", b"caf\xc3\xa9", b"caf\xe9", b"x"]
STEMS = [
    b"a",
    b"with space",
    b"caf\xe9",  # latin-1: not UTF-8
    b"\xff\xfen",  # not UTF-8
    b"hash#1",
    b"pct%41",
    b"x\\y",
    b"y",
    b"\xe2\x98\x83",  # a snowman, UTF-8
    b"-dash",
    b"[br]",
]
EXTS = [b".md", b".md", b".txt", b".rst", b".bin"]
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "lambda"]
ACTIONS = ["keep", "edit", "edit", "delete"]

SHARES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    work = Path(tempfile.mkdtemp(prefix="funcpipe-applaws-"))
    a = App(work)
    try:
        yield a
    finally:
        a.close()
        remove_tree(work)


def not_utf8(rel: bytes) -> bool:
    try:
        rel.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


paragraphs = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
    min_size=1,
    max_size=3,
).map(tuple)


@st.composite
def file_paths(draw: st.DrawFn, n_roots: int) -> bytes:
    root = b"r%d" % draw(st.integers(0, n_roots - 1))
    dirs = draw(st.lists(st.sampled_from(DIRS), max_size=2))
    name = draw(st.sampled_from(STEMS)) + draw(st.sampled_from(EXTS))
    return b"/".join([root, *dirs, name])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    n_roots = draw(st.integers(1, 3))
    roots = tuple(b"r%d" % i for i in range(n_roots))
    rels = draw(st.lists(file_paths(n_roots), min_size=1, max_size=6, unique=True))
    rels = [r for r in rels if r != b"r0/base.md"]
    t1 = Tree(roots=roots)
    # One plain file, so run A always creates the collection (``ingest --prune`` against a
    # collection that was never created exits 2 on the app: reported, not drawn here).
    t1.files[b"r0/base.md"] = File(b"r0/base.md", "basefileq", ("alpha beta",))
    for i, rel in enumerate(rels):
        bad = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
        t1.files[rel] = File(rel, f"tok{i}q", draw(paragraphs), bad_encoding=bad)
    t2 = t1.copy()
    for rel, f in t1.files.items():
        action = draw(st.sampled_from(ACTIONS))
        if action == "edit" and not f.bad_encoding:
            t2.files[rel] = File(rel, f.token, draw(paragraphs))
        elif action == "delete":
            del t2.files[rel]
    for j, rel in enumerate(draw(st.lists(file_paths(n_roots), max_size=2, unique=True))):
        if rel not in t1.files and rel not in t2.files:
            t2.files[rel] = File(rel, f"new{j}q", draw(paragraphs))
    one_in_three = st.sampled_from([False, False, True])
    vanished = frozenset(r for r in roots if draw(one_in_three))
    t2.vanished = vanished
    # Unreadable entries of B: existing files and folders of the changed tree.
    if UNREADABLE_OK:
        present = [f for f in t2.files.values() if f.root not in vanished]
        folders = sorted({d for f in present for d in f.folders if d not in roots})
        files = sorted(f.rel for f in present)
        locked = draw(st.lists(st.sampled_from(folders), max_size=2)) if folders else []
        locked += draw(st.lists(st.sampled_from(files), max_size=2)) if files else []
        t2.unreadable = frozenset(locked)
    # Four in five runs B get a schedule; every row holds at least one fault, so any request
    # that follows it meets one (rows of 4+ exhaust the retries: a partial run).
    faulty = draw(st.sampled_from([True, True, True, True, False]))
    kinds = st.sampled_from(FAULT_KINDS[:6] * 3 + FAULT_KINDS[6:])
    row = st.lists(kinds, min_size=1, max_size=5)
    rows = draw(st.lists(row, min_size=1, max_size=4)) if faulty else []
    prune = draw(st.sampled_from([True, True, False]))
    return {"t1": t1, "t2": t2, "faults": rows, "prune": prune}


def expected_tree(t1: Tree, t2: Tree, prune: bool) -> Tree:
    """What the store must hold after B and a clean re-run: the changed tree, plus the first
    tree's files that are gone but must stay (not pruned, or under a vanished root)."""
    exp = Tree(roots=t2.roots)
    for rel, f in t2.files.items():
        if f.root not in t2.vanished:
            exp.files[rel] = f
    for rel, f in t1.files.items():
        if rel in exp.files:
            continue
        if f.root in t2.vanished or not prune:
            exp.files[rel] = f
    return exp


def assert_run_laws(run: Run, what: str, allowed: set[int]) -> None:
    assert run.crashed is None, f"{what}: the command raised {run.crashed!r}"
    assert run.exit_code in allowed, f"{what}: exit {run.exit_code}: {run.stderr} {run.report}"
    twice = {t: n for t, n in run.ok_texts().items() if n > 1}
    assert not twice, f"LAW at-most-once success ({what}): texts embedded again: {twice}"


def test_app_laws_under_drawn_trees_faults_and_prunes(app: App) -> None:
    @settings(
        max_examples=EXAMPLES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(sc=scenarios())
    def law(sc: dict[str, object]) -> None:
        t1, t2, faults, prune = sc["t1"], sc["t2"], sc["faults"], sc["prune"]
        assert isinstance(t1, Tree)
        assert isinstance(t2, Tree)
        assert isinstance(prune, bool)
        assert isinstance(faults, list)
        base, ref = app.new_base(), app.new_base()
        try:
            _one_example(app, base, ref, t1, t2, faults, prune)
        finally:
            remove_tree(base)
            remove_tree(ref)

    law()
    n = SHARES["examples"]
    shares = {k: v / n for k, v in sorted(SHARES.items()) if k != "examples"}
    print(
        f"\napp laws: {n} examples; shares: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
    )
    assert n >= EXAMPLES
    assert shares["fault served"] >= 0.20
    assert shares["retries exhausted (partial run)"] >= 0.05
    assert shares["non-UTF-8 name"] >= 0.10
    assert shares["edit"] >= 0.20
    assert shares["deletion"] >= 0.20
    assert shares["vanished root"] >= 0.10
    assert shares["several requests in one run"] >= 0.15
    if UNREADABLE_OK:
        assert shares["unreadable file"] >= 0.10
        assert shares["unreadable folder"] >= 0.10
        assert shares["prune with a protected folder or root"] >= 0.10


def _count(name: str, cond: bool) -> None:
    if cond:
        SHARES[name] += 1
        event(name)


def _one_example(
    app: App,
    base: Path,
    ref: Path,
    t1: Tree,
    t2: Tree,
    faults: list[list[str]],
    prune: bool,
) -> None:
    SHARES["examples"] += 1
    every_rel = list(t1.files) + list(t2.files)
    _count("non-UTF-8 name", any(not_utf8(r) for r in every_rel))
    _count("edit", any(r in t2.files and t2.files[r] != f for r, f in t1.files.items()))
    _count("deletion", any(r not in t2.files for r in t1.files))
    _count("vanished root", bool(t2.vanished))
    _count("unreadable file", any(r in t2.files for r in t2.unreadable))
    locked_dirs = {r for r in t2.unreadable if r not in t2.files}
    _count("unreadable folder", bool(locked_dirs))
    _count("prune with a protected folder or root", prune and bool(locked_dirs or t2.vanished))
    _count("bad encoding", any(f.bad_encoding for f in t1.files.values()))

    # A: a clean run stores every supported, valid file; nothing twice.
    t1.write(base)
    a = app.ingest(base, t1.roots)
    assert_run_laws(a, "clean run A", {0, 4})
    snap_a = snapshot(base)
    tokens = {f.token for f in t1.files.values()} | {f.token for f in t2.files.values()}
    missing = t1.expected_present() - stored_tokens(snap_a, tokens)
    lost = sorted(f.rel for f in t1.files.values() if f.token in missing)
    assert not lost, f"LAW no loss (clean run A): not stored: {lost}; report {a.report}"
    assert not duplicates(snap_a), f"LAW no duplication (A): {duplicates(snap_a)}"
    committed = tokens_by_source(snap_a, tokens)

    # B: the changed tree, unreadable entries, drawn embedder faults.
    t2.write(base)
    t2.lock(base)
    try:
        b = app.ingest(base, t2.roots, prune=prune, faults=faults)
    finally:
        t2.unlock(base)
    assert_run_laws(b, "faulty run B", {0, 3, 4})
    _count("fault served", any(ex.fault is not None for ex in b.exchanges))
    _count("several requests in one run", len(b.exchanges) >= 2)
    attempts = Counter(ex.texts for ex in b.exchanges)
    _count("retries exhausted (partial run)", any(n >= 4 for n in attempts.values()))
    snap_b = snapshot(base)
    assert not duplicates(snap_b), f"LAW no duplication (B): {duplicates(snap_b)}"
    after_b = stored_tokens(snap_b, tokens)
    by_token_2 = {f.token: f for f in t2.files.values()}
    for f in t1.files.values():
        if f.token not in committed:
            continue
        now = by_token_2.get(f.token)
        gone = (now is None or now.root in t2.vanished) and not t2.protected(f)
        if not (prune and gone):
            assert f.token in after_b, (
                f"LAW no loss (B): committed source {committed[f.token]!r} ({f.rel!r}) was "
                f"removed; its file is {'gone' if now is None else 'there'}, prune={prune}, "
                f"unreadable={sorted(t2.unreadable)}, vanished={sorted(t2.vanished)}; "
                f"report {b.report}"
            )

    # C: a clean re-run converges to a clean run's store over the expected tree.
    c = app.ingest(base, t2.roots, prune=prune)
    assert_run_laws(c, "clean re-run C", {0, 4})
    exp = expected_tree(t1, t2, prune)
    exp.write(ref)
    r = app.ingest(ref, exp.roots)
    assert_run_laws(r, "reference run", {0, 4})
    # Points of sources only: a store that once held data may keep a collection-level record
    # (the embedder identity) that a fresh store with nothing to write never gets.
    snap_c = {i: p for i, p in snapshot(base).items() if "source" in p}
    snap_r = {i: p for i, p in snapshot(ref).items() if "source" in p}
    assert not duplicates(snap_c), f"LAW no duplication (C): {duplicates(snap_c)}"
    only_c = sorted({str(p.get("source")) for i, p in snap_c.items() if snap_r.get(i) != p})
    only_r = sorted({str(p.get("source")) for i, p in snap_r.items() if snap_c.get(i) != p})
    assert snap_c == snap_r, (
        f"LAW convergence: after B and a clean re-run the store differs from a clean run's: "
        f"{len(snap_c)} vs {len(snap_r)} points; sources differing: only after re-run "
        f"{only_c}, only in the clean run {only_r}; B {b.report}; C {c.report}"
    )
    if snap_c:  # (no collection at all when nothing was ever stored: verify says so)
        v = app.verify(base)
        assert v.report is not None, f"verify printed no report: {v.stderr}"
        assert v.report.get("ok") is True, f"LAW verify: {v.report}"
    shutil.rmtree(os.path.join(base, "data"), ignore_errors=True)
