"""Near-duplicate clusters: MinHash signatures, band-sequential LSH in numpy, verification, union-find.

Pipeline (one call over the whole table):

1. batches are cut into slices of ``slice_rows``; each slice is sketched vectorized
   (:mod:`lakehouse.dedup.sketch`). Only the signatures are kept, never shingle sets: one uint32
   row of ``num_perm`` values per record (datasketch's affine32 values are < 2**32), appended to
   fixed ~64 MB blocks (:class:`SignatureStore`, never concatenated, so never copied), plus a
   64-bit hash of each row;
2. records are put in survivor order, ``(rank_key, record_id)`` with null rank keys last. A
   record's *rank* is its position in that order. Everything below works on ranks, so the result
   depends only on the set of input rows (not on row order or batch boundaries) and the survivor
   of a cluster is simply its smallest rank;
3. records whose signature equals a better-ranked one's (same row hash, then checked value by
   value) join it right away and stay out of the banding;
4. band-sequential LSH, one band at a time, with the band layout datasketch's ``MinHashLSH``
   picks for the threshold and weights (:func:`lsh_params`): the band's ``r`` columns of every
   remaining record are hashed to one uint64 key, the keys are sorted (stable, so equal keys stay
   in rank order), and each run of equal keys -- a *bucket* -- gives candidate pairs
   (:func:`bucket_pairs`):

   * a bucket of ``k <= lsh_all_pairs_max`` records: all ``k(k-1)/2`` pairs, exactly the
     candidates ``MinHashLSH`` would return for it;
   * a larger bucket: each member with the bucket's best-ranked member (*star*) and with its
     neighbour when the members are ordered by their key of the next band (*chain*):
     ``2k - 3`` pairs instead of ``k(k-1)/2``, so templated text (thousands of records sharing a
     band) costs linear time. A pair of such a bucket is still found when both records verify
     against the best-ranked member (a bucket of copies of one text), when they also share the
     next band (they are neighbours, or linked through neighbours), or in any other band where
     they share a smaller bucket. It can only be lost when every band it collides in is a large
     bucket of mutually dissimilar records (e.g. shared boilerplate); ``log`` reports how many
     records sat in such buckets;

   the band's keys and sort order are freed before the next band;
5. a candidate pair already in one cluster is skipped; the others are verified by the MinHash
   estimate (``matches / num_perm``, exactly ``MinHash.jaccard``) ``>= threshold`` and united in
   a numpy union-find over ranks (:class:`RankForest`, root = smallest rank = survivor).

Memory: the signature matrix (``4 * num_perm`` bytes per record), the ids and rank keys, a few
int64 arrays per record (rank order, row hashes, union-find parents), the current band's keys,
sort order and buckets (~50 bytes per record) and candidate pairs in chunks of ``2**20``. No
index grows with the input: datasketch's ``MinHashLSH`` took ~5.5 KB per record.

Clusters are transitive: a member may be below the threshold to the survivor if it reaches it
through other members; its ``jaccard`` column says so. The output is sorted by record_id.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from lakehouse.dedup.config import DedupConfig, load_dedup_config

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

log = logging.getLogger(__name__)

INPUT_COLUMNS = ("record_id", "text", "rank_key")
_PAIR_CHUNK = 32_768  # pairs verified per numpy step (gathers 2 x 32k signature rows)
_PAIR_BATCH = 1 << 20  # candidate pairs generated per step
_BLOCK_BYTES = 64 << 20  # signature storage block (large enough to be its own mmap)
_KEY_ROWS = 16_384  # rows hashed per step (their band columns stay in cache)
_MIX = 0x9E3779B97F4A7C15


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


@lru_cache(maxsize=32)
def _band_layout(threshold: float, num_perm: int, weights: tuple[float, float]) -> tuple[int, int]:
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, weights[0], weights[1])
    if bands < 2:  # thresholds near 1: MinHashLSH rejects a single band, use two halves
        return 2, num_perm // 2
    return int(bands), int(rows)


def lsh_params(cfg: DedupConfig) -> tuple[int, int]:
    """(bands, rows per band) datasketch's MinHashLSH picks for the threshold and weights.

    Calls datasketch's own ``_optimal_param`` (what ``MinHashLSH(threshold, num_perm, weights)``
    uses); band ``i`` is signature columns ``i*rows .. (i+1)*rows``, as in ``MinHashLSH``.
    """
    return _band_layout(float(cfg.threshold), int(cfg.num_perm), tuple(float(w) for w in cfg.lsh_weights))


def row_keys(cols: "np.ndarray") -> "np.ndarray":
    """One uint64 key per row of a uint32 matrix: equal rows, equal keys.

    Each column goes through an invertible 64-bit mix (xor, odd multiply, xorshift), so two
    different rows share a key with probability ~2**-64; a shared key only adds a candidate
    pair, which is verified like any other.
    """
    import numpy as np

    cols = np.ascontiguousarray(cols)
    if cols.ndim != 2:
        raise ValueError("row_keys needs a 2-d matrix")
    words = cols.view(np.uint64) if cols.shape[1] % 2 == 0 and cols.shape[1] else cols  # two columns per step
    h = np.full(len(cols), cols.shape[1], dtype=np.uint64)
    mul, shift = np.uint64(_MIX), np.uint64(29)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= mul
        h ^= h >> shift
    return h


class SignatureStore:
    """Signature rows (uint32, ``num_perm`` wide) appended in order, kept in fixed-size blocks.

    Blocks of ~64 MB are allocated as rows arrive: the matrix is never concatenated (no second
    copy at the end) and its size is the number of rows times ``4 * num_perm`` bytes, plus at
    most one partly filled block.
    """

    def __init__(self, num_perm: int, block_rows: int | None = None) -> None:
        self.num_perm = num_perm
        self.block_rows = block_rows or max(1, _BLOCK_BYTES // (4 * num_perm))
        self.blocks: list[np.ndarray] = []
        self.n = 0

    @classmethod
    def from_matrix(cls, sig: "np.ndarray", block_rows: int | None = None) -> "SignatureStore":
        store = cls(sig.shape[1], block_rows)
        store.append(sig)
        return store

    def append(self, sig: "np.ndarray") -> None:
        import numpy as np

        done = 0
        while done < len(sig):
            fill = self.n % self.block_rows
            if fill == 0:
                self.blocks.append(np.empty((self.block_rows, self.num_perm), dtype=np.uint32))
            take = min(len(sig) - done, self.block_rows - fill)
            self.blocks[-1][fill : fill + take] = sig[done : done + take]
            done += take
            self.n += take

    def take(self, idx: "np.ndarray", lo: int = 0, hi: int | None = None) -> "np.ndarray":
        """Rows ``idx`` (any order, repeats allowed), columns ``lo:hi``, as one new array."""
        import numpy as np

        hi = self.num_perm if hi is None else hi
        idx = np.asarray(idx, dtype=np.int64)
        if len(self.blocks) == 1:
            return self.blocks[0][idx, lo:hi]
        out = np.empty((len(idx), hi - lo), dtype=np.uint32)
        if not len(idx):
            return out
        blk, off = np.divmod(idx, self.block_rows)
        order = np.argsort(blk, kind="stable")
        edges = np.searchsorted(blk[order], np.arange(len(self.blocks) + 1))
        for b, block in enumerate(self.blocks):
            sel = order[edges[b] : edges[b + 1]]
            if len(sel):
                out[sel] = block[off[sel], lo:hi]
        return out

    def band_keys(self, lo: int, hi: int) -> "np.ndarray":
        """:func:`row_keys` of columns ``lo:hi`` for every row, in row order."""
        import numpy as np

        out = np.empty(self.n, dtype=np.uint64)
        for b, block in enumerate(self.blocks):
            base = b * self.block_rows
            rows = min(self.block_rows, self.n - base)
            for s in range(0, rows, _KEY_ROWS):
                e = min(rows, s + _KEY_ROWS)
                out[base + s : base + e] = row_keys(block[s:e, lo:hi])
        return out


def estimated_jaccard(sig: "np.ndarray | SignatureStore", left: "np.ndarray", right: "np.ndarray") -> "np.ndarray":
    """``MinHash.jaccard`` of signature rows ``left[k]`` and ``right[k]`` for all k (float64)."""
    import numpy as np

    store = sig if isinstance(sig, SignatureStore) else None
    num_perm = store.num_perm if store is not None else sig.shape[1]  # type: ignore[union-attr]
    out = np.empty(len(left), dtype=np.float64)
    for lo in range(0, len(left), _PAIR_CHUNK):
        hi = lo + _PAIR_CHUNK
        if store is not None:
            a, b = store.take(left[lo:hi]), store.take(right[lo:hi])
        else:
            a, b = sig[left[lo:hi]], sig[right[lo:hi]]  # type: ignore[index]
        out[lo:hi] = np.count_nonzero(a == b, axis=1) / float(num_perm)
    return out


class UnionFind:
    """Union-find over ``0..n-1`` with path halving (pure Python; the reference for :class:`RankForest`)."""

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


def _flatten(parent: "np.ndarray") -> "np.ndarray":
    """Pointer jumping until every entry is its root (``parent[x] <= x`` holds throughout)."""
    import numpy as np

    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def _components(u: "np.ndarray", v: "np.ndarray", k: int) -> "np.ndarray":
    """For nodes ``0..k-1`` and edges ``(u, v)``: the smallest node of each node's component.

    Min-hooking: every edge whose ends have different roots hooks the larger root under the
    smaller one, then pointer jumping flattens the trees; repeated until no edge crosses two
    trees. A component's smallest node is never hooked, so it ends up as the root.
    """
    import numpy as np

    lab = np.arange(k, dtype=np.int64)
    while True:
        lu, lv = lab[u], lab[v]
        cross = lu != lv
        if not cross.any():
            return lab
        u, v, lu, lv = u[cross], v[cross], lu[cross], lv[cross]
        np.minimum.at(lab, np.maximum(lu, lv), np.minimum(lu, lv))
        lab = _flatten(lab)


class RankForest:
    """Union-find over ranks ``0..n-1`` in numpy, united in batches; a set's root is its smallest rank.

    Each :meth:`union` computes the components among the roots it touches at once and points
    those roots to their component's smallest root, so a path grows by at most one step per
    call; the forest is flattened whenever paths may have grown past ``_MAX_DEPTH``.
    """

    _MAX_DEPTH = 4

    def __init__(self, n: int) -> None:
        import numpy as np

        self.parent = np.arange(n, dtype=np.int64)
        self.depth = 1  # upper bound of the steps from any rank to its root

    def find(self, x: "np.ndarray") -> "np.ndarray":
        import numpy as np

        p = self.parent
        r = p[x]
        for _ in range(self.depth):
            up = p[r]
            if np.array_equal(up, r):
                break
            r = up
        return r

    def union(self, a: "np.ndarray", b: "np.ndarray") -> int:
        """Unite ``a[k]`` with ``b[k]`` for all k; returns the number of sets merged away."""
        import numpy as np

        ra, rb = self.find(a), self.find(b)
        cross = ra != rb
        if not cross.any():
            return 0
        ra, rb = ra[cross], rb[cross]
        nodes, inv = np.unique(np.concatenate((ra, rb)), return_inverse=True)
        lab = _components(inv[: len(ra)], inv[len(ra) :], len(nodes))
        self.parent[nodes] = nodes[lab]
        self.depth += 1
        if self.depth > self._MAX_DEPTH:
            self.parent = _flatten(self.parent)
            self.depth = 1
        return int(np.count_nonzero(lab != np.arange(len(nodes))))

    def roots(self) -> "np.ndarray":
        """The root (smallest rank of its set) of every rank."""
        self.parent = _flatten(self.parent)
        self.depth = 1
        return self.parent


def rank_order(rank_keys: "pa.Array", record_ids: "pa.Array") -> "np.ndarray":
    """Row indices in survivor order: smallest ``(rank_key, record_id)`` first, null rank keys last."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.table({"null": pc.is_null(rank_keys), "k": pc.fill_null(rank_keys, ""), "r": record_ids})
    order = pc.sort_indices(keys, sort_keys=[("null", "ascending"), ("k", "ascending"), ("r", "ascending")])
    return order.to_numpy().astype("int64", copy=False)


def _runs(sorted_keys: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """``(starts, sizes)`` of the runs of at least two equal values in a sorted array."""
    import numpy as np

    m = len(sorted_keys)
    if m < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate((np.zeros(1, dtype=np.int64), starts))
    sizes = np.diff(np.append(starts, m))
    multi = sizes > 1
    return starts[multi], sizes[multi]


def _star(members: "np.ndarray", starts: "np.ndarray", sizes: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Each run member with the run's first member: ``(firsts, others)``."""
    import numpy as np

    others = np.repeat(starts + 1 - (np.cumsum(sizes - 1) - (sizes - 1)), sizes - 1) + np.arange(int((sizes - 1).sum()))
    return np.repeat(members[starts], sizes - 1), members[others]


def bucket_pairs(
    members: "np.ndarray",
    starts: "np.ndarray",
    sizes: "np.ndarray",
    all_pairs_max: int,
    chain_key: Callable[["np.ndarray"], "np.ndarray"],
) -> Iterator[tuple["np.ndarray", "np.ndarray"]]:
    """Candidate pairs of the buckets ``members[s : s + k]`` for ``(s, k)`` in ``(starts, sizes)``.

    ``members`` are ranks, best-ranked first within each bucket. Buckets of at most
    ``all_pairs_max`` members give all their pairs; larger ones each member with the first
    (star) and each member with its neighbour when ordered by ``chain_key(ranks)`` then rank
    (chain). Yields ``(left, right)`` rank arrays of about ``_PAIR_BATCH`` pairs at most (a
    single huge bucket is yielded whole: two pairs per member).
    """
    import numpy as np

    small = sizes <= all_pairs_max
    if small.any():
        ss, sz = starts[small], sizes[small]
        by_size = np.argsort(sz, kind="stable")
        ss, sz = ss[by_size], sz[by_size]
        cuts = np.flatnonzero(np.diff(sz)) + 1
        for group_start, group_end in zip(np.r_[0, cuts], np.r_[cuts, len(sz)]):
            k = int(sz[group_start])
            i, j = np.triu_indices(k, 1)
            step = max(1, _PAIR_BATCH // len(i))
            for lo in range(group_start, group_end, step):
                s = ss[lo : min(lo + step, group_end), None]
                yield members[(s + i).ravel()], members[(s + j).ravel()]
    big = ~small
    if big.any():
        bs, bz = starts[big], sizes[big]
        ends = np.cumsum(bz)
        lo = 0
        while lo < len(bs):
            hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - bz[lo] + _PAIR_BATCH, side="right")))
            S, Z = bs[lo:hi], bz[lo:hi]
            yield _star(members, S, Z)
            total = int(Z.sum())
            run = np.repeat(np.arange(len(S)), Z)
            ids = members[np.repeat(S - (np.cumsum(Z) - Z), Z) + np.arange(total)]
            by_key = np.lexsort((ids, chain_key(ids), run))
            ids, run = ids[by_key], run[by_key]
            same = run[1:] == run[:-1]
            yield ids[:-1][same], ids[1:][same]
            lo = hi


@dataclass
class BandStats:
    """Counters of one candidate generation (logged)."""

    candidates: int = 0
    large_buckets: int = 0
    large_bucket_records: int = 0


def band_candidates(
    store: SignatureStore,
    order: "np.ndarray",
    reps: "np.ndarray",
    bands: int,
    rows: int,
    all_pairs_max: int,
    stats: BandStats | None = None,
) -> Iterator[tuple["np.ndarray", "np.ndarray"]]:
    """LSH candidate pairs among ranks ``reps`` (ascending), one band after the other.

    ``order[rank]`` is the row of a rank in ``store``. Yields ``(left, right)`` rank arrays; a
    pair may be yielded by several bands. See the module docstring for the pairing rule.
    """
    import numpy as np

    stats = stats if stats is not None else BandStats()
    rows_of = order[reps]
    for band in range(bands):
        keys = store.band_keys(band * rows, (band + 1) * rows)[rows_of]
        by_key = np.argsort(keys, kind="stable")
        keys = keys[by_key]
        starts, sizes = _runs(keys)
        del keys
        members = reps[by_key]
        del by_key
        big = sizes > all_pairs_max
        stats.large_buckets += int(big.sum())
        stats.large_bucket_records += int(sizes[big].sum())
        nxt = (band + 1) % bands

        def chain_key(ranks: "np.ndarray", lo: int = nxt * rows) -> "np.ndarray":
            return row_keys(store.take(order[ranks], lo, lo + rows))

        for left, right in bucket_pairs(members, starts, sizes, all_pairs_max, chain_key):
            stats.candidates += len(left)
            yield left, right
        del members, starts, sizes
        log.debug("near dedup: band %d/%d done, %d candidates so far", band + 1, bands, stats.candidates)


def _verify(
    forest: RankForest, store: SignatureStore, order: "np.ndarray", left: "np.ndarray", right: "np.ndarray", threshold: float
) -> tuple[int, int]:
    """Verify the pairs not yet in one cluster and unite those at or above the threshold.

    Returns ``(verified, at_or_above_threshold)`` counts.
    """
    import numpy as np

    todo = forest.find(left) != forest.find(right)
    left, right = left[todo], right[todo]
    if not len(left):
        return 0, 0
    ok = estimated_jaccard(store, order[left], order[right]) >= threshold
    forest.union(left[ok], right[ok])
    return len(left), int(np.count_nonzero(ok))


def _stored_signatures(part: "pa.RecordBatch | pa.Table", num_perm: int) -> tuple["np.ndarray", "np.ndarray"]:
    """Signatures given as a ``signature`` column (``num_perm`` little-endian uint32 per row, the
    bytes :func:`lakehouse.engine.stages.minhash_batch` stores) and a ``nonempty`` column."""
    import numpy as np
    import pyarrow as pa

    col = part.column("signature")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    width = 4 * num_perm
    if col.type != pa.binary(width) and (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
        col = col.cast(pa.binary(width))  # a BLOB read back through DuckDB (fails on a wrong length)
    if col.null_count or col.type != pa.binary(width):
        raise ValueError(f"signature column must be non-null fixed_size_binary[{width}]")
    data = np.frombuffer(col.buffers()[1], dtype=np.uint8)[col.offset * width:(col.offset + len(col)) * width]
    sig = data.view("<u4").astype(np.uint32).reshape(len(col), num_perm)
    ne = part.column("nonempty")
    ne = (ne.combine_chunks() if isinstance(ne, pa.ChunkedArray) else ne).to_numpy(zero_copy_only=False)
    return sig, ne.astype(bool)


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
    bands, rows = lsh_params(cfg)
    t0 = time.perf_counter()
    store = SignatureStore(cfg.num_perm)
    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    hashes: list[np.ndarray] = []
    nonempty: list[np.ndarray] = []
    with _progress(progress, "near dedup") as advance:
        for part in _slices(batches, cfg.slice_rows):
            if "signature" in part.schema.names:  # computed (and cached) by the engine
                sig, ne = _stored_signatures(part, cfg.num_perm)
            else:
                sig, ne = signatures(
                    _column(part, "text"), num_perm=cfg.num_perm, ngram=cfg.ngram, seed=seed,
                    chunk_bytes=cfg.chunk_bytes, short_tokens=cfg.short_text_tokens, char_ngram=cfg.char_ngram
                )
            store.append(sig)
            hashes.append(row_keys(sig))
            nonempty.append(ne)
            ids.append(_column(part, "record_id"))
            keys.append(_column(part, "rank_key"))
            advance(part.num_rows)
    n = store.n
    record_ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    rank_keys = pa.concat_arrays(keys) if keys else pa.array([], pa.string())
    del ids, keys
    if record_ids.null_count:
        raise ValueError("near dedup input has null record_id")
    by_id = pc.sort_indices(record_ids)  # output order; equal neighbours = duplicate ids (lighter than a hash set)
    sorted_ids = record_ids.take(by_id)
    if n > 1 and pc.any(pc.equal(sorted_ids.slice(1), sorted_ids.slice(0, n - 1))).as_py():
        raise ValueError("near dedup input has duplicate record_id")
    del sorted_ids

    t_sketch = time.perf_counter()
    order = rank_order(rank_keys, record_ids)  # rank -> row
    del rank_keys
    pa.default_memory_pool().release_unused()  # sort buffers
    forest = RankForest(n)
    live = np.flatnonzero(np.concatenate(nonempty)[order]) if nonempty else np.zeros(0, np.int64)  # ranks with text
    row_hash = np.concatenate(hashes)[order[live]] if hashes else np.zeros(0, np.uint64)
    del hashes, nonempty
    # identical signatures: each joins the best-ranked copy and skips the banding
    by_hash = np.argsort(row_hash, kind="stable")
    starts, sizes = _runs(row_hash[by_hash])
    del row_hash
    firsts, copies = _star(live[by_hash], starts, sizes)
    del by_hash, starts, sizes
    same = np.zeros(len(copies), dtype=bool)
    for lo in range(0, len(copies), _PAIR_BATCH):
        hi = lo + _PAIR_BATCH
        same[lo:hi] = estimated_jaccard(store, order[firsts[lo:hi]], order[copies[lo:hi]]) == 1.0
        forest.union(firsts[lo:hi][same[lo:hi]], copies[lo:hi][same[lo:hi]])
    keep = np.ones(n, dtype=bool)
    keep[copies[same]] = False
    reps = live[keep[live]]
    del firsts, copies, same, keep, live

    t_lsh = time.perf_counter()
    stats = BandStats()
    verified = joined = 0
    for left, right in band_candidates(store, order, reps, bands, rows, cfg.lsh_all_pairs_max, stats):
        v, j = _verify(forest, store, order, left, right, cfg.threshold)
        verified += v
        joined += j
    t_out = time.perf_counter()
    roots = forest.roots()  # rank -> survivor rank
    del forest
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    surv = order[roots[rank]]  # row -> survivor row
    del roots, rank
    is_surv = surv == np.arange(n)
    jac = np.ones(n, dtype=np.float64)
    members = np.flatnonzero(~is_surv)
    jac[members] = estimated_jaccard(store, members, surv[members])
    log.info(
        "near dedup: records=%d distinct_signatures=%d bands=%dx%d candidates=%d verified=%d joined=%d "
        "large_buckets=%d (records %d) removed=%d; seconds: sketch %.1f, rank+identical %.1f, lsh %.1f, clusters %.1f",
        n, len(reps), bands, rows, stats.candidates, verified, joined,
        stats.large_buckets, stats.large_bucket_records, len(members),
        t_sketch - t0, t_lsh - t_sketch, t_out - t_lsh, time.perf_counter() - t_out,
    )
    del store
    cluster_ids = record_ids.take(pa.array(surv, pa.int64()))
    table = pa.table(
        [record_ids, cluster_ids, pa.array(is_surv, pa.bool_()), cluster_ids, pa.array(jac, pa.float64())],
        schema=output_schema(),
    )
    return table.take(by_id)


def near_duplicate_removals(clusters: "pa.Table") -> "pa.Table":
    """The explanation table: removed_id, kept_id, jaccard for every non-survivor."""
    import pyarrow.compute as pc

    removed = clusters.filter(pc.invert(clusters["is_survivor"]))
    return (
        removed.select(["record_id", "kept_id", "jaccard"])
        .rename_columns(["removed_id", "kept_id", "jaccard"])
        .sort_by("removed_id")
    )
