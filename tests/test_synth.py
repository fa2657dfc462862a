"""Synthetic corpus: shape, determinism, planted duplicates and their calibrated Jaccard."""

from __future__ import annotations

import json
import random
from collections import Counter
from functools import lru_cache

from lakehouse.dedup import conversation_text, jaccard, shingles
from lakehouse.synth import generate_corpus, planted_pairs, write_jsonl
from lakehouse.synth.corpus import DEFAULT_FAMILIES, NEAR_DUP_MIN_JACCARD


@lru_cache(maxsize=None)
def _corpus(n: int, seed: int) -> tuple[dict, ...]:
    return tuple(generate_corpus(n, seed))


def _non_system(record: dict) -> list[dict]:
    return [m for m in record["messages"] if m["role"] != "system"]


def test_deterministic_per_seed() -> None:
    assert list(generate_corpus(300, 4)) == list(_corpus(300, 4))
    assert list(generate_corpus(300, 5)) != list(_corpus(300, 4))
    assert list(generate_corpus(100, 4)) == list(_corpus(300, 4))[:100]  # a prefix of a longer run


def test_record_shape_and_rates() -> None:
    records = _corpus(3000, 2)
    ids = [r["synthetic_id"] for r in records]
    assert len(set(ids)) == len(ids)
    kinds = Counter(r["planted"]["kind"] for r in records)
    assert abs(kinds["exact_dup"] / 3000 - 0.05) < 0.02
    assert abs(kinds["near_dup"] / 3000 - 0.10) < 0.03
    assert abs(kinds["cross_family_copy"] / 3000 - 0.02) < 0.01
    prompts = Counter()
    position = {sid: i for i, sid in enumerate(ids)}
    for r in records:
        assert set(r) == {"messages", "family", "synthetic_id", "planted"}
        assert r["family"] in DEFAULT_FAMILIES
        roles = [m["role"] for m in r["messages"]]
        assert "system" not in roles[1:]
        body = [m for m in roles if m != "system"]
        assert len(body) >= 4 and body[0] == "user" and body[-1] == "assistant"
        assert all(a != b for a, b in zip(body, body[1:]))
        assert len(conversation_text(r["messages"]).split()) >= 60
        if roles[0] == "system":
            prompts[r["messages"][0]["content"]] += 1
        of = r["planted"]["of"]
        assert (of is None) == (r["planted"]["kind"] == "original")
        if of is not None:
            assert records[position[of]]["planted"]["kind"] == "original" and position[of] < position[r["synthetic_id"]]
    assert prompts.most_common(1)[0][1] > 600  # many conversations share one system prompt


def test_planted_copies_match_their_definition() -> None:
    records = _corpus(3000, 2)
    by_id = {r["synthetic_id"]: r for r in records}
    near = []
    for copy_id, of in planted_pairs(records):
        copy, orig = by_id[copy_id], by_id[of]
        kind = copy["planted"]["kind"]
        if kind == "exact_dup":
            assert copy["messages"] == orig["messages"] and copy["family"] == orig["family"]
        elif kind == "cross_family_copy":
            assert copy["family"] != orig["family"] and _non_system(copy) == _non_system(orig)
        else:
            assert copy["family"] == orig["family"]
            j = jaccard(shingles(conversation_text(copy["messages"]), 3), shingles(conversation_text(orig["messages"]), 3))
            assert NEAR_DUP_MIN_JACCARD <= j < 1.0
            near.append(j)
    assert len(near) > 200 and sum(near) / len(near) < 0.95  # real edits, not trivial copies


def test_unrelated_originals_have_low_jaccard() -> None:
    originals = [r for r in _corpus(3000, 2) if r["planted"]["kind"] == "original"]
    sets = [shingles(conversation_text(r["messages"]), 3) for r in originals]
    rng = random.Random(0)
    values = [jaccard(*rng.sample(sets, 2)) for _ in range(3000)]
    assert max(values) < 0.5 and sum(values) / len(values) < 0.15


def test_write_jsonl_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    records = list(_corpus(300, 4))[:50]
    path = tmp_path / "sub" / "corpus.jsonl"
    assert write_jsonl(path, iter(records)) == 50
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw
    assert [json.loads(line) for line in raw.decode("utf-8").splitlines()] == records
