"""Near-duplicate clusters: MinHash LSH candidates, verified by estimated Jaccard, union-find.

Pipeline (one call over the whole table, streaming):

1. batches are cut into slices of ``slice_rows``; each slice is sketched vectorized
   (:mod:`lakehouse.dedup.sketch`). Only the signature matrix (``num_perm`` uint32 per record)
   is kept, never shingle sets;
2. a record whose signature equals an earlier one becomes a candidate of that record and skips
   the LSH; the others are queried, then inserted, in a datasketch ``MinHashLSH`` (each colliding
   pair is seen once). From ``worker_min_rows`` distinct signatures on, the bands are split over
   ``lsh_workers`` subprocesses (:mod:`lakehouse.dedup.lsh_worker`), each running a
   ``MinHashLSH`` over its bands while this process keeps sketching: same candidates;
3. candidate pairs are verified with the MinHash estimate (``matches / num_perm``, exactly
   ``MinHash.jaccard``, computed for all pairs at once with numpy) ``>= threshold``;
4. union-find over verified pairs; the survivor of a cluster is its record with the smallest
   ``(rank_key, record_id)`` (null rank keys last).

Clusters are transitive: a member may be below the threshold to the survivor if it reaches it
through other members; its ``jaccard`` column says so. Everything depends only on the set of
input rows, so batch boundaries and row order do not change the output (sorted by record_id).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from lakehouse.dedup.config import DedupConfig, load_dedup_config

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

log = logging.getLogger(__name__)

INPUT_COLUMNS = ("record_id", "text", "rank_key")
_PAIR_CHUNK = 32_768


def input_batch(record_ids: Sequence[str], texts: Sequence[str | None], rank_keys: Sequence[str | None]) -> "pa.RecordBatch":
    """A RecordBatch in the input shape of :func:`near_duplicate_clusters`."""
    import pyarrow as pa

    return pa.record_batch(
        [pa.array(record_ids, pa.string()), pa.array(texts, pa.string()), pa.array(rank_keys, pa.string())],
        names=list(INPUT_COLUMNS),
    )


def output_schema() -> "pa.Schema":
    """Schema of the cluster table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("record_id", pa.string()),
            ("cluster_id", pa.string()),
            ("is_survivor", pa.bool_()),
            ("kept_id", pa.string()),
            ("jaccard", pa.float64()),
        ]
    )


@contextmanager
def _progress(enabled: bool, description: str) -> Iterator:  # type: ignore[type-arg]
    """A rich progress bar when enabled, else a no-op advance function."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda n: bar.advance(task, n)


def _resolve(
    threshold: float | None, num_perm: int | None, ngram: int | None, config: DedupConfig | None
) -> DedupConfig:
    from dataclasses import replace

    cfg = config or load_dedup_config()
    overrides = {k: v for k, v in (("threshold", threshold), ("num_perm", num_perm), ("ngram", ngram)) if v is not None}
    return replace(cfg, **overrides) if overrides else cfg


def _column(batch: "pa.RecordBatch | pa.Table", name: str) -> "pa.Array":
    import pyarrow as pa

    if name not in batch.schema.names:
        if name == "rank_key":
            return pa.nulls(batch.num_rows, pa.string())
        raise ValueError(f"near dedup input lacks column {name!r}")
    col = batch.column(name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    return col.cast(pa.string())


def _slices(batches: Iterable["pa.RecordBatch"], rows: int) -> Iterator["pa.RecordBatch | pa.Table"]:
    for batch in batches:
        for lo in range(0, batch.num_rows, rows):
            yield batch.slice(lo, rows)


def lsh_params(cfg: DedupConfig) -> tuple[int, int]:
    """(bands, rows per band) datasketch's MinHashLSH picks for the threshold and weights."""
    from datasketch import MinHashLSH

    try:
        lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=cfg.lsh_weights)
    except ValueError:  # thresholds near 1 make datasketch pick a single band, which it rejects
        return 2, cfg.num_perm // 2
    return lsh.b, lsh.r


def feed_lsh(lsh: object, ids: "np.ndarray", cols: "np.ndarray", seed: int, left: list[int], right: list[int]) -> None:
    """Query then insert each row in a datasketch MinHashLSH, collecting (row, earlier row) pairs."""
    from datasketch import LeanMinHash

    from lakehouse.dedup.sketch import SCHEME

    for g, row in zip(ids.tolist(), cols):
        m = LeanMinHash(seed=seed, hashvalues=row, scheme=SCHEME)
        found = lsh.query(m)  # type: ignore[attr-defined]
        if found:
            left.extend([g] * len(found))
            right.extend(found)
        lsh.insert(g, m, check_duplication=False)  # type: ignore[attr-defined]


class _Worker:
    """One ``lakehouse.dedup.lsh_worker`` subprocess and its two pipes."""

    def __init__(self, num_perm: int, bands: int, rows: int, seed: int) -> None:
        import os
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        from pathlib import Path

        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        args = [str(v) for v in (to_child_r, from_child_w, num_perm, bands, rows, seed)]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lakehouse.dedup.lsh_worker", *args],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.inbox = Connection(from_child_r, writable=False)

    def _failed(self) -> RuntimeError:
        return RuntimeError(f"near dedup LSH worker {self.proc.pid} failed (exit code {self.proc.poll()})")

    def send(self, msg: object) -> None:
        try:
            self.outbox.send(msg)
        except OSError as err:
            raise self._failed() from err

    def result(self) -> tuple["np.ndarray", "np.ndarray"]:
        try:
            return self.inbox.recv()  # type: ignore[no-any-return]
        except (OSError, EOFError) as err:
            raise self._failed() from err

    def close(self) -> None:
        import subprocess

        self.outbox.close()
        self.inbox.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class CandidateIndex:
    """LSH candidate pairs over streamed signature slices; owns the signatures and any workers.

    With ``lsh_workers == 0`` every slice is indexed in this process right away. Otherwise rows
    are buffered until ``worker_min_rows`` distinct signatures are seen: a small input is then
    indexed in this process, a large one by ``lsh_workers`` subprocesses, each running a
    datasketch ``MinHashLSH`` over its share of the bands (the union of candidates is the same).
    """

    def __init__(self, cfg: DedupConfig, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.bands, self.rows = lsh_params(cfg)
        self.sigs: list[np.ndarray] = []
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []  # (global ids, their signature rows)
        self.pending_rows = 0
        self.seen: dict[int, int] = {}
        self.left: list[int] = []
        self.right: list[int] = []
        self.n = 0
        self.lsh: object | None = None
        self.workers: list[_Worker] = []
        self.columns: list[tuple[int, int]] = []

    def __enter__(self) -> "CandidateIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []
        self.lsh = None

    def _start(self, use_workers: bool) -> None:
        import numpy as np

        count = max(1, min(self.cfg.lsh_workers, self.bands // 2)) if use_workers else 1  # >= 2 bands each
        groups = [g for g in np.array_split(np.arange(self.bands), count) if len(g)]
        self.columns = [(int(g[0]) * self.rows, (int(g[-1]) + 1) * self.rows) for g in groups]
        if use_workers:
            self.workers = [_Worker(hi - lo, (hi - lo) // self.rows, self.rows, self.seed) for lo, hi in self.columns]
        else:
            from datasketch import MinHashLSH

            self.lsh = MinHashLSH(num_perm=self.bands * self.rows, params=(self.bands, self.rows))

    def _flush(self) -> None:
        import numpy as np

        if not self.pending:
            return
        ids = np.concatenate([p[0] for p in self.pending])
        rows = np.concatenate([p[1] for p in self.pending])
        self.pending, self.pending_rows = [], 0
        if self.lsh is not None:
            lo, hi = self.columns[0]
            feed_lsh(self.lsh, ids, rows[:, lo:hi], self.seed, self.left, self.right)
            return
        for (lo, hi), worker in zip(self.columns, self.workers):
            worker.send((ids, np.ascontiguousarray(rows[:, lo:hi])))

    def add(self, sig: "np.ndarray", nonempty: "np.ndarray") -> None:
        """Index the next slice of rows (empty rows are skipped)."""
        import numpy as np

        base = self.n
        self.sigs.append(sig)
        self.n += len(sig)
        fresh: list[int] = []
        seen = self.seen
        for i in np.flatnonzero(nonempty).tolist():
            key = hash(sig[i].tobytes())
            rep = seen.get(key)
            if rep is None:
                seen[key] = base + i
                fresh.append(i)
            else:  # identical signature: a candidate of the earlier row, verified like any other
                self.left.append(base + i)
                self.right.append(rep)
        if fresh:
            rows = np.asarray(fresh, dtype=np.int64)
            self.pending.append((rows + base, sig[rows]))
            self.pending_rows += len(rows)
        if self.lsh is None and not self.workers:
            if self.cfg.lsh_workers == 0:
                self._start(False)
            elif len(self.seen) >= self.cfg.worker_min_rows:
                self._start(True)
            else:
                return  # buffer: small inputs are cheaper in this process
        self._flush()

    def finish(self) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
        """``(left, right, signatures)``: candidate pairs (later row, earlier row), each once."""
        import numpy as np

        if self.lsh is None and not self.workers:
            self._start(False)
        self._flush()
        lefts = [np.asarray(self.left, dtype=np.int64)]
        rights = [np.asarray(self.right, dtype=np.int64)]
        for worker in self.workers:
            worker.send(None)
        for worker in self.workers:
            left, right = worker.result()
            lefts.append(left)
            rights.append(right)
        left, right = np.concatenate(lefts), np.concatenate(rights)
        if len(self.workers) > 1 and len(left):
            uniq = np.unique(left * self.n + right)
            left, right = uniq // self.n, uniq % self.n
        sig = np.concatenate(self.sigs) if self.sigs else np.zeros((0, self.cfg.num_perm), np.uint32)
        self.sigs = []
        return left, right, sig


def estimated_jaccard(sig: "np.ndarray", left: "np.ndarray", right: "np.ndarray") -> "np.ndarray":
    """``MinHash.jaccard`` of signature rows ``left[k]`` and ``right[k]`` for all k (float64)."""
    import numpy as np

    out = np.empty(len(left), dtype=np.float64)
    for lo in range(0, len(left), _PAIR_CHUNK):
        hi = lo + _PAIR_CHUNK
        same = np.count_nonzero(sig[left[lo:hi]] == sig[right[lo:hi]], axis=1)
        out[lo:hi] = same / float(sig.shape[1])
    return out


class UnionFind:
    """Union-find over ``0..n-1`` with path halving; :meth:`roots` resolves all at once."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def union_many(self, left: Iterable[int], right: Iterable[int]) -> None:
        for a, b in zip(left, right):
            self.union(a, b)

    def roots(self) -> "np.ndarray":
        import numpy as np

        p = np.asarray(self.parent, dtype=np.int64)
        while True:
            q = p[p]
            if np.array_equal(q, p):
                return p
            p = q


def survivors(roots: "np.ndarray", rank_keys: "pa.Array", record_ids: "pa.Array") -> "np.ndarray":
    """Index of each row's survivor: smallest (rank_key, record_id) in its cluster, null keys last."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(roots)
    keys = pa.table({"null": pc.is_null(rank_keys), "k": pc.fill_null(rank_keys, ""), "r": record_ids})
    order = pc.sort_indices(keys, sort_keys=[("null", "ascending"), ("k", "ascending"), ("r", "ascending")]).to_numpy()
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    best = np.full(n, n, dtype=np.int64)
    np.minimum.at(best, roots, rank)
    return order[best[roots]]


def near_duplicate_clusters(
    batches: Iterable["pa.RecordBatch"],
    *,
    threshold: float | None = None,
    num_perm: int | None = None,
    ngram: int | None = None,
    seed: int = 1,
    progress: bool = False,
    config: DedupConfig | None = None,
) -> "pa.Table":
    """One row per input record: record_id, cluster_id, is_survivor, kept_id, jaccard.

    Input batches hold ``record_id`` (unique, non-null), ``text`` (the non-system text) and
    ``rank_key`` (smaller = preferred survivor). Unset knobs come from ``config`` or ``dedup.yml``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse.dedup.sketch import signatures

    cfg = _resolve(threshold, num_perm, ngram, config)
    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    with CandidateIndex(cfg, seed) as index, _progress(progress, "near dedup") as advance:
        for part in _slices(batches, cfg.slice_rows):
            sig, nonempty = signatures(
                _column(part, "text"), num_perm=cfg.num_perm, ngram=cfg.ngram, seed=seed, chunk_bytes=cfg.chunk_bytes
            )
            index.add(sig, nonempty)
            ids.append(_column(part, "record_id"))
            keys.append(_column(part, "rank_key"))
            advance(part.num_rows)
        left, right, sig = index.finish()
        distinct = len(index.seen)
    n = len(sig)
    record_ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    rank_keys = pa.concat_arrays(keys) if keys else pa.array([], pa.string())
    if record_ids.null_count:
        raise ValueError("near dedup input has null record_id")
    if pc.count_distinct(record_ids).as_py() != n:
        raise ValueError("near dedup input has duplicate record_id")

    verified = estimated_jaccard(sig, left, right) >= cfg.threshold
    uf = UnionFind(n)
    uf.union_many(left[verified].tolist(), right[verified].tolist())
    surv = survivors(uf.roots(), rank_keys, record_ids)
    is_surv = surv == np.arange(n)
    jac = np.ones(n, dtype=np.float64)
    members = np.flatnonzero(~is_surv)
    jac[members] = estimated_jaccard(sig, members, surv[members])
    log.info(
        "near dedup: records=%d distinct_signatures=%d candidates=%d verified=%d removed=%d",
        n, distinct, len(left), int(verified.sum()), len(members),
    )
    cluster_ids = record_ids.take(pa.array(surv, pa.int64()))
    table = pa.table(
        [record_ids, cluster_ids, pa.array(is_surv, pa.bool_()), cluster_ids, pa.array(jac, pa.float64())],
        schema=output_schema(),
    )
    return table.sort_by("record_id")


def near_duplicate_removals(clusters: "pa.Table") -> "pa.Table":
    """The explanation table: removed_id, kept_id, jaccard for every non-survivor."""
    import pyarrow.compute as pc

    removed = clusters.filter(pc.invert(clusters["is_survivor"]))
    return (
        removed.select(["record_id", "kept_id", "jaccard"])
        .rename_columns(["removed_id", "kept_id", "jaccard"])
        .sort_by("removed_id")
    )
