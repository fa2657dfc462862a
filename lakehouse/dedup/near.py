"""Near-duplicate clusters: MinHash LSH candidates, verified by estimated Jaccard, union-find.

Pipeline (one call over the whole table):

1. signatures of each batch, vectorized (:mod:`lakehouse.dedup.sketch`); only the signature
   matrix (``num_perm`` uint32 per record) is kept, never shingle sets;
2. records with identical signatures are grouped (estimated Jaccard 1.0) and one representative
   per signature goes into a datasketch ``MinHashLSH`` (query, then insert: each colliding pair
   is seen once);
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
_PAIR_CHUNK = 262_144


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


def _read(
    batches: Iterable["pa.RecordBatch"], cfg: DedupConfig, seed: int, progress: bool
) -> tuple["pa.Array", "pa.Array", "np.ndarray", "np.ndarray"]:
    """Record ids, rank keys, signatures and non-empty mask of all input rows."""
    import numpy as np
    import pyarrow as pa

    from lakehouse.dedup.sketch import signatures

    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    sigs: list[np.ndarray] = []
    nonempty: list[np.ndarray] = []
    with _progress(progress, "near dedup: sketch") as advance:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            ids.append(_column(batch, "record_id"))
            keys.append(_column(batch, "rank_key"))
            sig, ne = signatures(
                _column(batch, "text"), num_perm=cfg.num_perm, ngram=cfg.ngram, seed=seed, chunk_bytes=cfg.chunk_bytes
            )
            sigs.append(sig)
            nonempty.append(ne)
            advance(batch.num_rows)
    if not ids:
        empty = pa.array([], pa.string())
        return empty, empty, np.zeros((0, cfg.num_perm), np.uint32), np.zeros(0, bool)
    return pa.concat_arrays(ids), pa.concat_arrays(keys), np.concatenate(sigs), np.concatenate(nonempty)


def estimated_jaccard(sig: "np.ndarray", left: "np.ndarray", right: "np.ndarray") -> "np.ndarray":
    """``MinHash.jaccard`` of signature rows ``left[k]`` and ``right[k]`` for all k (float64)."""
    import numpy as np

    out = np.empty(len(left), dtype=np.float64)
    for lo in range(0, len(left), _PAIR_CHUNK):
        hi = lo + _PAIR_CHUNK
        same = np.count_nonzero(sig[left[lo:hi]] == sig[right[lo:hi]], axis=1)
        out[lo:hi] = same / float(sig.shape[1])
    return out


def unique_signatures(sig: "np.ndarray", rows: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Representative row of each distinct signature among ``rows``, and each row's representative."""
    import numpy as np

    if len(rows) == 0:
        return rows, rows
    packed = np.ascontiguousarray(sig[rows]).view(np.dtype((np.void, sig.dtype.itemsize * sig.shape[1]))).ravel()
    _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    reps = rows[first]
    return reps, reps[inverse.ravel()]


def lsh_candidates(
    usig: "np.ndarray", *, threshold: float, weights: tuple[float, float], seed: int, progress: bool
) -> tuple["np.ndarray", "np.ndarray"]:
    """Candidate pairs (row indices into ``usig``) of a datasketch MinHashLSH, each pair once."""
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    from lakehouse.dedup.sketch import SCHEME

    lsh = MinHashLSH(threshold=threshold, num_perm=usig.shape[1], weights=weights)
    left: list[int] = []
    right: list[int] = []
    with _progress(progress, "near dedup: lsh") as advance:
        for u in range(len(usig)):
            m = LeanMinHash(seed=seed, hashvalues=usig[u], scheme=SCHEME)
            found = lsh.query(m)
            if found:
                left.extend([u] * len(found))
                right.extend(found)
            lsh.insert(u, m, check_duplication=False)
            if u % 4096 == 4095:
                advance(4096)
        advance(len(usig) % 4096)
    return np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)


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

    cfg = _resolve(threshold, num_perm, ngram, config)
    record_ids, rank_keys, sig, nonempty = _read(batches, cfg, seed, progress)
    n = len(record_ids)
    if record_ids.null_count:
        raise ValueError("near dedup input has null record_id")
    if pc.count_distinct(record_ids).as_py() != n:
        raise ValueError("near dedup input has duplicate record_id")

    rows = np.flatnonzero(nonempty)
    reps, rep_of = unique_signatures(sig, rows)
    uf = UnionFind(n)
    uf.union_many(rows.tolist(), rep_of.tolist())
    left, right = lsh_candidates(
        sig[reps], threshold=cfg.threshold, weights=cfg.lsh_weights, seed=seed, progress=progress
    )
    left, right = reps[left], reps[right]
    verified = estimated_jaccard(sig, left, right) >= cfg.threshold
    uf.union_many(left[verified].tolist(), right[verified].tolist())

    surv = survivors(uf.roots(), rank_keys, record_ids)
    is_surv = surv == np.arange(n)
    jac = np.ones(n, dtype=np.float64)
    members = np.flatnonzero(~is_surv)
    jac[members] = estimated_jaccard(sig, members, surv[members])
    log.info(
        "near dedup: records=%d empty=%d distinct_signatures=%d candidates=%d verified=%d removed=%d",
        n, n - len(rows), len(reps), len(left), int(verified.sum()), len(members),
    )
    cluster_ids = record_ids.take(pa.array(surv))
    table = pa.table(
        [record_ids, cluster_ids, pa.array(is_surv), cluster_ids, pa.array(jac)],
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
