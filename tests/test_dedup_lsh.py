"""Band-sequential LSH of near dedup: datasketch equivalence, degenerate buckets, numpy union-find."""

from __future__ import annotations

import random
import time
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pytest
from datasketch import LeanMinHash, MinHashLSH

from lakehouse.dedup import conversation_text, input_batch, load_dedup_config, near_duplicate_clusters
from lakehouse.dedup.config import DedupConfig
from lakehouse.dedup.near import (
    BandStats,
    RankForest,
    SignatureStore,
    UnionFind,
    band_candidates,
    estimated_jaccard,
    lsh_params,
    row_keys,
)
from lakehouse.dedup.sketch import SCHEME, signatures
from lakehouse.synth import generate_corpus

CFG = load_dedup_config()


@lru_cache(maxsize=None)
def _corpus_signatures(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    records = list(generate_corpus(n, seed))
    texts = pa.array([conversation_text(r["messages"]) for r in records], pa.string())
    sig, nonempty = signatures(texts, num_perm=CFG.num_perm, ngram=CFG.ngram, seed=1)
    return [r["synthetic_id"] for r in records], sig, nonempty


def _datasketch_pairs(sig: np.ndarray, rows: list[int]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(candidate pairs, verified pairs) of datasketch's MinHashLSH over signature ``rows``."""
    lsh = MinHashLSH(threshold=CFG.threshold, num_perm=CFG.num_perm, weights=CFG.lsh_weights)
    sketches = {i: LeanMinHash(seed=1, hashvalues=sig[i], scheme=SCHEME) for i in rows}
    for i, m in sketches.items():
        lsh.insert(i, m)
    candidates, verified = set(), set()
    for i, m in sketches.items():
        for j in lsh.query(m):
            if j != i:
                pair = (min(i, j), max(i, j))
                candidates.add(pair)
                if m.jaccard(sketches[j]) >= CFG.threshold:
                    verified.add(pair)
    return candidates, verified


def test_band_layout_and_signature_width_are_datasketchs() -> None:
    for threshold, num_perm, weights in ((0.8, 128, (0.1, 0.9)), (0.5, 64, (0.5, 0.5)), (0.9, 256, (0.3, 0.7))):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
        assert lsh_params(DedupConfig(threshold=threshold, num_perm=num_perm, lsh_weights=weights)) == (lsh.b, lsh.r)
    assert lsh_params(CFG) == (14, 9)
    assert lsh_params(DedupConfig(threshold=0.999)) == (2, 64)  # MinHashLSH would reject its single band
    from datasketch.minhash import _SCHEME_MAX_HASHES

    assert int(_SCHEME_MAX_HASHES[SCHEME]) == 2**32 - 1  # affine32 values fit uint32
    assert _corpus_signatures(3000, 4)[1].dtype == np.uint32


def test_band_candidates_equal_datasketch_minhashlsh() -> None:
    """Same candidate and verified pairs as MinHashLSH.insert/query on distinct signatures."""
    _, sig, nonempty = _corpus_signatures(3000, 4)
    _, first = np.unique(sig, axis=0, return_index=True)
    rows = sorted(i for i in first.tolist() if nonempty[i])
    ds_candidates, ds_verified = _datasketch_pairs(sig, rows)
    assert len(ds_verified) > 200

    store = SignatureStore.from_matrix(sig, block_rows=512)  # several blocks
    bands, width = lsh_params(CFG)
    stats = BandStats()
    candidates, verified = set(), set()
    reps = np.asarray(rows, dtype=np.int64)
    for left, right in band_candidates(store, np.arange(len(sig)), reps, bands, width, CFG.lsh_all_pairs_max, stats):
        ok = estimated_jaccard(store, left, right) >= CFG.threshold
        for a, b, v in zip(left.tolist(), right.tolist(), ok.tolist()):
            candidates.add((min(a, b), max(a, b)))
            if v:
                verified.add((min(a, b), max(a, b)))
    assert stats.large_buckets == 0
    assert candidates == ds_candidates
    assert verified == ds_verified


def test_clusters_equal_datasketch_minhashlsh_union_find() -> None:
    """Whole pipeline (identical signatures included) = union-find over MinHashLSH's verified pairs."""
    ids, sig, nonempty = _corpus_signatures(3000, 4)
    _, verified = _datasketch_pairs(sig, [i for i in range(len(sig)) if nonempty[i]])
    uf = UnionFind(len(sig))
    for a, b in verified:
        uf.union(a, b)
    roots = uf.roots()
    expected = {frozenset(np.flatnonzero(roots == r).tolist()) for r in np.unique(roots)}

    records = list(generate_corpus(3000, 4))
    batch = input_batch(ids, [conversation_text(r["messages"]) for r in records], [r["family"] for r in records])
    clusters = near_duplicate_clusters([batch], config=CFG)
    cid = dict(zip(clusters["record_id"].to_pylist(), clusters["cluster_id"].to_pylist()))
    got: dict[str, set[int]] = {}
    for i, rid in enumerate(ids):
        got.setdefault(cid[rid], set()).add(i)
    assert {frozenset(g) for g in got.values()} == expected
    assert sum(len(g) > 1 for g in expected) > 200


def test_one_band_shared_by_5000_records_is_linear() -> None:
    """5,000 mutually dissimilar records share band 0: 2k candidates there, not k(k-1)/2."""
    rng = np.random.default_rng(0)
    n, (bands, width) = 5000, lsh_params(CFG)
    sig = rng.integers(0, 2**32 - 1, size=(n, CFG.num_perm), dtype=np.uint32)
    sig[:, :width] = 7  # one bucket of everything in band 0
    copies = sig[:20].copy()  # 20 near copies: 6 changed values outside band 0 (J ~ 0.95)
    for row in copies:
        row[rng.choice(np.arange(width, CFG.num_perm), 6, replace=False)] += 1
    sig = np.concatenate((sig, copies))
    stats = BandStats()
    t0 = time.perf_counter()
    store = SignatureStore.from_matrix(sig)
    pairs = list(band_candidates(store, np.arange(len(sig)), np.arange(len(sig)), bands, width, 64, stats))
    assert time.perf_counter() - t0 < 5
    assert stats.large_buckets == 1 and stats.large_bucket_records == n + 20
    assert stats.candidates < 2 * (n + 20) + 20 * bands
    left, right = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    ok = estimated_jaccard(store, left, right) >= CFG.threshold
    assert {(min(a, b), max(a, b)) for a, b in zip(left[ok].tolist(), right[ok].tolist())} == {
        (i, n + i) for i in range(20)
    }

    # the public function on templated text: 5,000 conversations of one 300-word template and an
    # 80-word tail of their own (Jaccard ~0.65, large buckets in every band), plus 20 near copies
    words = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    template = " ".join(words.choice(vocab) for _ in range(300))
    tails = [[words.choice(vocab) for _ in range(80)] for _ in range(n)]
    texts = [f"{template} {' '.join(t)}" for t in tails]
    texts += [f"{template} {' '.join(t[:40] + ['changed'] + t[41:])}" for t in tails[:20]]
    ids = [f"t{i:05d}" for i in range(len(texts))]
    t0 = time.perf_counter()
    clusters = near_duplicate_clusters([input_batch(ids, texts, ids)], config=CFG)
    assert time.perf_counter() - t0 < 10
    cluster_id = clusters["cluster_id"].to_pylist()
    assert all(cluster_id[n + i] == ids[i] for i in range(20))
    assert sum(not s for s in clusters["is_survivor"].to_pylist()) < 30  # the copies, plus MinHash noise


def test_identical_texts_join_the_best_ranked_copy() -> None:
    n = 5000
    text = "i keep thinking about what my therapist said last week and it helps a little"
    ids = [f"r{i:05d}" for i in range(n)]
    keys = [None if i % 7 == 0 else f"{(i * 7919) % n:05d}" for i in range(n)]
    clusters = near_duplicate_clusters([input_batch(ids, [text] * n, keys)], config=CFG)
    best = min((k, r) for k, r in zip(keys, ids) if k is not None)[1]
    assert set(clusters["cluster_id"].to_pylist()) == {best}
    assert set(clusters["jaccard"].to_pylist()) == {1.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_forest_equals_union_find(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    edges = [rng.integers(0, n, size=(400, 2))]
    edges.append(np.stack([np.arange(1000, 1999), np.arange(1001, 2000)], axis=1)[::-1])  # a long chain
    edges.append(np.stack([np.full(300, 2999), rng.integers(0, n, 300)], axis=1))  # a star on a large rank
    edges.append(rng.integers(0, n, size=(2000, 2)) // 2 * 2)  # even ranks only
    all_edges = np.concatenate(edges)
    rng.shuffle(all_edges)
    forest, uf = RankForest(n), UnionFind(n)
    for chunk in np.array_split(all_edges, 9):  # several batches: paths deeper than one step
        forest.union(chunk[:, 0], chunk[:, 1])
        uf.union_many(chunk[:, 0].tolist(), chunk[:, 1].tolist())
        assert np.array_equal(forest.find(np.arange(n)), uf.roots())
    assert np.array_equal(forest.roots(), uf.roots())


def test_signature_store_blocks_and_row_keys() -> None:
    rng = np.random.default_rng(3)
    sig = rng.integers(0, 2**32, size=(1000, 16), dtype=np.uint32)
    sig[500] = sig[17]
    store = SignatureStore(16, block_rows=96)
    for lo in range(0, 1000, 250):
        store.append(sig[lo : lo + 250])
    assert store.n == 1000 and len(store.blocks) == 11
    idx = rng.integers(0, 1000, 3000)
    assert np.array_equal(store.take(idx), sig[idx])
    assert np.array_equal(store.take(idx, 3, 12), sig[idx, 3:12])
    keys = store.band_keys(3, 12)
    assert np.array_equal(keys, row_keys(sig[:, 3:12]))
    assert len(np.unique(keys)) == 999 and keys[500] == keys[17]
    assert len(np.unique(row_keys(sig))) == 999
