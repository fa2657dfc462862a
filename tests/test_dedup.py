"""Near dedup: tokenizer/shingles, datasketch equivalence, planted-truth quality, determinism."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import defaultdict
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from lakehouse.dedup import (
    conversation_text,
    input_batch,
    jaccard,
    load_dedup_config,
    near_duplicate_clusters,
    near_duplicate_removals,
    shingles,
    tokens,
)
from lakehouse.dedup.config import DEFAULT_PATH, DedupConfig
from lakehouse.dedup.sketch import prepare, shingle_hash, signatures, token_hash, token_hashes, token_spans
from lakehouse.synth import banks, generate_corpus, truth_group

CFG = load_dedup_config()

TEXTS = [
    "Hello, World! I don't know.",
    "",
    None,
    "one two",
    "École — it’s “fine”, naïve café_bar x",
    "a b c d e f g",
    "   \n\t ",
    "Über STRASSE straße ÅNGSTRÖM 12,5 %",
    "won't" * 5,
    "supercalifragilisticexpialidocious antidisestablishmentarianism hi",
    "emoji 🙂 between words 🙂🙂 end",
]


@lru_cache(maxsize=None)
def _corpus(n: int, seed: int) -> tuple[dict, ...]:
    return tuple(generate_corpus(n, seed))


def _batch(records: list[dict] | tuple[dict, ...], rank=lambda r: r["synthetic_id"]) -> pa.RecordBatch:
    return input_batch(
        [r["synthetic_id"] for r in records], [conversation_text(r["messages"]) for r in records], [rank(r) for r in records]
    )


def test_tokens_and_shingles() -> None:
    assert tokens("Hello, World! I don't know.") == ["hello", "world", "i", "dont", "know"]
    assert tokens("It’s “fine” — ÉCOLE_x") == ["its", "fine", "école", "x"]
    assert shingles("Hello, World! I don't know.", 3) == {"hello world i", "world i dont", "i dont know"}
    assert shingles("Just two", 3) == {"just two"}
    assert shingles(" ... ", 3) == set()
    assert shingles("a b a b a b", 2) == {"a b", "b a"}
    with pytest.raises(ValueError):
        shingles("x", 0)


def test_conversation_text_leaves_out_system() -> None:
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    assert conversation_text(msgs) == "u\na"


def test_token_hashes_match_reference() -> None:
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789éßø漢字"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    data, offsets = prepare(pa.array([" ".join(words)]))
    starts, ends, counts = token_spans(data, offsets)
    assert counts.tolist() == [len(words)]
    assert token_hashes(data, starts, ends).tolist() == [token_hash(w) for w in words]


@pytest.mark.parametrize("chunk_bytes", [1, 64, 4_000_000])
def test_signatures_equal_datasketch_minhash(chunk_bytes: int) -> None:
    sig, nonempty = signatures(pa.array(TEXTS, pa.string()), num_perm=64, ngram=3, seed=7, chunk_bytes=chunk_bytes,
                               short_tokens=0)  # word shingles for every text (short texts: test_dedup_short.py)
    for i, text in enumerate(TEXTS):
        expected = MinHash(num_perm=64, seed=7, hashfunc=shingle_hash)
        sh = shingles(text or "", 3)
        expected.update_batch(sorted(sh))
        assert np.array_equal(sig[i], expected.hashvalues), text
        assert nonempty[i] == bool(sh)


def _quality(records: tuple[dict, ...], clusters: pa.Table) -> tuple[float, float]:
    cid = dict(zip(clusters["record_id"].to_pylist(), clusters["cluster_id"].to_pylist()))
    truth = [(r["synthetic_id"], r["planted"]["of"]) for r in records if r["planted"]["of"]]
    recall = sum(cid[a] == cid[b] for a, b in truth) / len(truth)
    group = {r["synthetic_id"]: truth_group(r) for r in records}
    members = defaultdict(list)
    for rid, c in cid.items():
        members[c].append(rid)
    pairs = [p for m in members.values() for p in itertools.combinations(m, 2)]
    precision = sum(group[a] == group[b] for a, b in pairs) / len(pairs)
    return precision, recall


def test_precision_recall_against_planted_truth() -> None:
    records = _corpus(2500, 11)
    clusters = near_duplicate_clusters([_batch(records)], config=CFG)
    precision, recall = _quality(records, clusters)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    assert clusters.num_rows == len(records)
    removed = near_duplicate_removals(clusters)
    assert removed.column_names == ["removed_id", "kept_id", "jaccard"]
    assert 0.1 < removed.num_rows / len(records) < 0.25
    assert min(removed["jaccard"].to_pylist()) >= 0.6  # transitive members may sit a bit below the threshold


def test_deterministic_under_shuffle_and_batch_sizes() -> None:
    records = list(_corpus(800, 5))
    batch = _batch(records)
    reference = near_duplicate_clusters([batch], config=CFG)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    shuffled_batch = _batch(shuffled)
    for size in (1, 7, 100, 800):
        parts = [shuffled_batch.slice(lo, size) for lo in range(0, shuffled_batch.num_rows, size)]
        cfg = dataclasses.replace(CFG, slice_rows=max(1, size // 2))
        assert near_duplicate_clusters(iter(parts), config=cfg).equals(reference), size
    assert near_duplicate_clusters([pa.Table.from_batches([batch])], config=CFG).equals(reference)


def test_star_and_chain_pairing_keeps_the_clusters() -> None:
    """Pairing every bucket by star + chain only (no all-pairs) finds the same clusters here."""
    records = list(_corpus(800, 5))
    reference = near_duplicate_clusters([_batch(records)], config=CFG)
    lean = dataclasses.replace(CFG, lsh_all_pairs_max=1)
    assert near_duplicate_clusters([_batch(records)], config=lean).equals(reference)
    random.Random(2).shuffle(records)
    parts = _batch(records)
    assert near_duplicate_clusters([parts.slice(0, 333), parts.slice(333)], config=lean).equals(reference)


def test_shared_system_prompt_does_not_create_clusters() -> None:
    originals = [r for r in _corpus(400, 9) if r["planted"]["kind"] == "original"][:150]
    rng = random.Random(0)
    prompt = " ".join(rng.choice(banks.NAMES + banks.EDIT_WORDS) for _ in range(800))  # long, shared
    convs = []
    for r in originals:
        user = next(m for m in r["messages"] if m["role"] == "user")
        assistant = next(m for m in r["messages"] if m["role"] == "assistant")
        convs.append([{"role": "system", "content": prompt}, user, assistant])
    ids = [f"c{i:03d}" for i in range(len(convs))]
    clusters = near_duplicate_clusters([input_batch(ids, [conversation_text(m) for m in convs], ids)], config=CFG)
    assert all(clusters["is_survivor"].to_pylist())
    # the same records with the system prompt in the text would collapse: the test has teeth
    leaky = near_duplicate_clusters([input_batch(ids, ["\n".join(m["content"] for m in c) for c in convs], ids)], config=CFG)
    assert sum(not s for s in leaky["is_survivor"].to_pylist()) > 10


def test_survivor_is_smallest_rank_key() -> None:
    text = "I have been feeling anxious at work for weeks and I cannot sleep at night anymore"
    ids = ["a", "b", "c", "d", "e", "f"]
    texts = [text, text + " honestly", text, text, text, "a completely unrelated sentence about gardening and tomatoes"]
    keys = ["2|x", "1|z", None, "1|z", "3", "0"]
    clusters = near_duplicate_clusters([input_batch(ids, texts, keys)], config=CFG).to_pylist()
    by_id = {row["record_id"]: row for row in clusters}
    assert [r["record_id"] for r in clusters] == ids  # sorted by record_id
    assert {r["cluster_id"] for r in clusters if r["record_id"] != "f"} == {"b"}  # ("1|z","b") < ("1|z","d")
    assert by_id["b"]["is_survivor"] and by_id["b"]["jaccard"] == 1.0
    assert by_id["f"]["is_survivor"] and by_id["f"]["cluster_id"] == "f"
    assert by_id["a"]["kept_id"] == "b" and 0.8 <= by_id["a"]["jaccard"] < 1.0
    removed = near_duplicate_removals(pa.Table.from_pylist(clusters, schema=pa.schema(
        [("record_id", pa.string()), ("cluster_id", pa.string()), ("is_survivor", pa.bool_()),
         ("kept_id", pa.string()), ("jaccard", pa.float64())])))
    assert removed["removed_id"].to_pylist() == ["a", "c", "d", "e"]
    assert set(removed["kept_id"].to_pylist()) == {"b"}


def test_empty_texts_are_singletons_and_ids_are_checked() -> None:
    clusters = near_duplicate_clusters([input_batch(["x", "y", "z"], ["", None, "..."], ["1", "2", "3"])])  # dedup.yml
    assert clusters["is_survivor"].to_pylist() == [True, True, True]
    assert near_duplicate_clusters([], config=CFG).num_rows == 0
    with pytest.raises(ValueError, match="duplicate record_id"):
        near_duplicate_clusters([input_batch(["x", "x"], ["a b c", "d e f"], ["1", "2"])], config=CFG)
    with pytest.raises(ValueError, match="null record_id"):
        near_duplicate_clusters([input_batch([None], ["a b c"], ["1"])], config=CFG)


def test_threshold_override_and_exact_jaccard_agreement() -> None:
    words = [f"w{i}" for i in range(200)]
    edited = words[:50] + ["other"] + words[51:150] + ["other2"] + words[151:]
    base, changed = " ".join(words), " ".join(edited)
    assert jaccard(shingles(base, 3), shingles(changed, 3)) == pytest.approx(192 / 204)
    batch = input_batch(["p", "q"], [base, changed], ["1", "2"])
    assert near_duplicate_clusters([batch], config=CFG)["is_survivor"].to_pylist() == [True, False]
    strict = near_duplicate_clusters([batch], threshold=0.999, config=CFG)
    assert strict["is_survivor"].to_pylist() == [True, True]


def test_config_loading(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = load_dedup_config()
    assert DEFAULT_PATH.exists()
    assert (cfg.threshold, cfg.num_perm, cfg.ngram) == (0.8, 128, 3)
    custom = tmp_path / "d.yml"
    custom.write_text("near_dedup:\n  threshold: 0.9\n  lsh_weights: [0.5, 0.5]\n")
    assert load_dedup_config(custom) == DedupConfig(threshold=0.9, lsh_weights=(0.5, 0.5))
    custom.write_text("near_dedup:\n  treshold: 0.9\n")
    with pytest.raises(ValueError, match="unknown"):
        load_dedup_config(custom)
    custom.write_text("near_dedup:\n  lsh_workers: 2\n")
    with pytest.raises(ValueError, match="removed"):
        load_dedup_config(custom)
    with pytest.raises(ValueError):
        DedupConfig(threshold=1.5)
