"""Near dedup of short texts: character n-grams below a token count catch one-exchange near
duplicates that word 3-grams miss, without merging distinct short texts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from lakehouse.dedup import input_batch, jaccard, load_dedup_config, near_duplicate_clusters, shingles
from lakehouse.dedup.sketch import char_shingle_hash, signatures
from lakehouse.dedup.text import char_shingles, dedup_shingles, short_text_key

CFG = load_dedup_config()

SAME = [  # one exchange each; the pairs differ by contractions, punctuation and case only
    ("What's your name?\nI'm Sam, nice to meet you.", "What is your name?\nI am Sam, nice to meet you."),
    ("Hi, how are you?\nI'm fine, thanks.", "hi how are you\nI am fine thanks!"),
    ("I can't sleep at night.\nThat sounds hard. What keeps you up?",
     "I cannot sleep at night\nThat sounds hard, what keeps you up?"),
    ("I don't feel like talking today.\nThat's okay, I'm here when you're ready.",
     "I do not feel like talking today.\nThat is OK, I'm here when you are ready."),
]
DIFFERENT = [  # distinct short texts that share most words
    ("What's your name?\nI'm Sam.", "What's your job?\nI'm a nurse."),
    ("I feel sad today.\nI'm sorry to hear that.", "I feel happy today.\nI'm glad to hear that."),
    ("I feel anxious about work.\nWhat part of work?", "I feel anxious about school.\nWhat part of school?"),
    ("I want to stop drinking.\nThat is a brave step.", "I want to stop smoking.\nThat is a brave step."),
    ("What's your name", "What's your game"),
]


def test_short_text_key_expands_contractions() -> None:
    assert short_text_key("What's your name? I'm Sam, I won't stay, can’t stay.") == \
        "what is your name i am sam i will not stay can not stay"
    assert char_shingles("Hi", 5) == {"hi"} and char_shingles(" .. ", 5) == set()
    assert char_shingles("abc def", 5) == {"abc d", "bc de", "c def"}


def test_word_shingles_miss_contractions_char_shingles_catch_them() -> None:
    n = CFG.char_ngram
    for a, b in SAME:
        assert jaccard(shingles(a, 3), shingles(b, 3)) < CFG.threshold  # the miss the issue reports
        assert jaccard(char_shingles(a, n), char_shingles(b, n)) >= 0.85, (a, b)
    for a, b in DIFFERENT:
        assert jaccard(char_shingles(a, n), char_shingles(b, n)) <= 0.7, (a, b)


def test_char_signatures_equal_datasketch_minhash() -> None:
    texts = [a for a, _ in SAME] + ["Über straße — naïve café 🙂", "x", "one two three four five six"]
    sig, nonempty = signatures(pa.array(texts), num_perm=64, ngram=3, seed=7, short_tokens=32, char_ngram=5)
    for i, text in enumerate(texts):
        m = MinHash(num_perm=64, seed=7, hashfunc=char_shingle_hash)
        m.update_batch(sorted(dedup_shingles(text, 3, 32, 5)))
        assert np.array_equal(sig[i], m.hashvalues), text
        assert nonempty[i]
    # a long text keeps word shingles; results never depend on the other rows of the batch
    long = " ".join(f"word{i}" for i in range(40))
    alone, _ = signatures(pa.array([long]), num_perm=64, ngram=3, seed=7, short_tokens=32, char_ngram=5)
    mixed, _ = signatures(pa.array([texts[0], long, texts[1]]), num_perm=64, ngram=3, seed=7, short_tokens=32,
                          char_ngram=5, chunk_bytes=16)
    assert np.array_equal(alone[0], mixed[1])
    assert np.array_equal(sig[0], mixed[0]) and np.array_equal(sig[1], mixed[2])


def _clusters(texts: list[str]) -> list[str]:
    ids = [f"r{i:02d}" for i in range(len(texts))]
    out = near_duplicate_clusters([input_batch(ids, texts, ids)])
    cid = dict(zip(out["record_id"].to_pylist(), out["cluster_id"].to_pylist()))
    return [cid[i] for i in ids]


def test_short_near_duplicates_cluster_and_distinct_ones_do_not() -> None:
    texts = [t for pair in SAME for t in pair]
    c = _clusters(texts)
    assert all(c[2 * k] == c[2 * k + 1] for k in range(len(SAME)))
    assert len(set(c)) == len(SAME)
    d = _clusters([t for pair in DIFFERENT for t in pair])
    assert len(set(d)) == 2 * len(DIFFERENT)


@pytest.mark.parametrize("bad", [{"short_text_tokens": -1}, {"char_ngram": 0}])
def test_config_validates_short_text_settings(bad: dict) -> None:
    import dataclasses

    with pytest.raises(ValueError):
        dataclasses.replace(CFG, **bad)
