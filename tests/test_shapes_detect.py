"""Shape detection from sampled records, and every sample fixture end to end (read -> detect -> convert)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lakehouse.shapes import (
    InputError, ShapeOptions, convert, convert_group, detect_shape, read_path, utterance_group_id,
    utterance_sort_key,
)

SAMPLES = Path(__file__).parent / "fixtures" / "samples"

HH = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away"}
CASES = [
    ("chatml", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}],
     {"conversation_key": "messages", "role_key": "role", "text_key": "content"}),
    ("sharegpt", [{"id": 1, "conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}],
     {"conversation_key": "conversations", "role_key": "from", "text_key": "value"}),
    ("role_list", [{"dialogue": [{"speaker": "client", "text": "a"}, {"speaker": "therapist", "text": "b"}]}],
     {"conversation_key": "dialogue", "role_key": "speaker", "text_key": "text"}),
    ("role_list", [{"turns": [{"author": "user", "utterance": "a"}]}],
     {"conversation_key": "turns", "role_key": "author", "text_key": "utterance"}),
    ("alpaca", [{"instruction": "Do x", "input": "", "output": "done"}],
     {"question_key": "instruction", "input_key": "input", "answer_key": "output"}),
    ("qa", [{"questionID": "1", "questionTitle": "Tired", "questionText": "Why tired?", "answerText": "Sleep.",
             "questionLink": "https://x"}],
     {"question_key": "questionText", "answer_key": "answerText", "title_key": "questionTitle"}),
    ("qa", [{"question": "How are you?", "answer": "Fine."}], {"question_key": "question", "answer_key": "answer"}),
    ("qa", [{"prompt": "I feel sad.", "response": "I hear you."}], {"question_key": "prompt", "answer_key": "response"}),
    ("qa", [{"input": "I feel sad.", "output": "I hear you."}], {"question_key": "input", "answer_key": "output"}),
    ("qa", [{"Context": "I feel sad.", "Response": "I hear you."}], {"question_key": "Context", "answer_key": "Response"}),
    ("utterance_rows", [{"conv_id": "c1", "turn": "1", "speaker": "client", "utterance": "a"},
                        {"conv_id": "c1", "turn": "2", "speaker": "therapist", "utterance": "b"}],
     {"conversation_key": "conv_id", "turn_key": "turn", "role_key": "speaker", "text_key": "utterance"}),
    ("transcript", [{"id": "s1", "transcript": "Client: I can't focus.\nTherapist: Since when?"}],
     {"text_key": "transcript"}),
    ("preference", [HH], {"chosen_key": "chosen", "rejected_key": "rejected"}),
    ("preference", [{"prompt": "q", "chosen": "a", "rejected": "b"}], {"question_key": "prompt"}),
    ("preference", [{"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
                     "rejected": {"from": "gpt", "value": "b"}}],
     {"conversation_key": "conversations", "role_key": "from", "text_key": "value"}),
    ("kto", [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "label": True}],
     {"conversation_key": "messages", "label_key": "label"}),
    ("kto", [{"prompt": "q", "completion": "a", "label": False}],
     {"question_key": "prompt", "answer_key": "completion", "label_key": "label"}),
    ("text", [{"text": "Plain prose about sleep hygiene."}], {"text_key": "text"}),
    ("text", [{"id": 3, "article": "x" * 300, "url": "https://example.com"}], {"text_key": "article"}),
]


@pytest.mark.parametrize("shape,records,keys", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_detect(shape: str, records: list[dict], keys: dict) -> None:
    d = detect_shape(records * 3)
    assert d.shape == shape, d.reason
    for k, v in keys.items():
        assert getattr(d.options, k) == v, (k, d.options)
    assert d.reason


def test_user_keys_win() -> None:
    d = detect_shape([{"post": "I'm lost.", "reply": "Let's talk."}] * 2,
                     ShapeOptions(question_key="post", answer_key="reply"))
    assert d.shape == "qa" and d.options.question_key == "post"
    d = detect_shape([{"chat": [{"who": "client", "said": "a"}]}],
                     ShapeOptions(role_key="who", text_key="said", role_map={"x": "user"}))
    assert d.shape == "role_list" and d.options.conversation_key == "chat" and d.options.role_map == {"x": "user"}


def test_detect_majority_and_no_fit() -> None:
    good = {"messages": [{"role": "user", "content": "a"}]}
    assert detect_shape([good] * 9 + [{"junk": 1}]).shape == "chatml"
    with pytest.raises(InputError) as e:
        detect_shape([{"id": 1, "score": 0.5}] * 4)
    assert "keys seen: id (4/4), score (4/4)" in str(e.value)
    with pytest.raises(InputError):
        detect_shape([])


def test_detect_txt() -> None:
    assert detect_shape([{"text": "Client: hi\nTherapist: hello"}], file_format="txt").shape == "transcript"
    assert detect_shape([{"text": "Four score and seven years ago."}], file_format="txt").shape == "text"


# -- every sample fixture: read, detect, convert ---------------------------------------------------
EXPECTED = {
    "alpaca/llamafactory_alpaca_en_demo_subset.json": ("alpaca", {"sft": 30}, {}),
    "counsel_chat/20200325_counsel_chat_subset.csv": ("qa", {"sft": 30}, {}),
    "hh_rlhf/harmless-base_test_subset.jsonl.gz": ("preference", {"preference": 25},
                                                   {"empty_turn": 4, "completion_has_user_turn": 3}),
    "sharegpt/fastchat_dummy_conversation_subset.json": ("sharegpt", {"sft": 20}, {}),
    "sharegpt/llamafactory_dpo_en_demo_subset.json": ("preference", {"preference": 12}, {}),
    "sharegpt/llamafactory_kto_en_demo_subset.json": ("kto", {"sft": 16}, {}),
    "speeches_sotu/1990_george_bush_r.txt": ("text", {"pretrain": 6}, {}),
}


def run_file(path: Path) -> tuple[str, Counter, Counter, Counter]:
    recs = list(read_path(path))
    fmt = {".csv": "csv", ".txt": "txt"}.get(path.suffix)
    d = detect_shape([r.record for r in recs[:50] if r.record is not None], file_format=fmt)
    if d.shape == "utterance_rows":
        groups: dict[str, list] = {}
        for r in recs:
            groups.setdefault(utterance_group_id(r.record, d.options), []).append(r)
        outs = [c for g in groups.values() for c in convert_group(
            [r.record for r in sorted(g, key=lambda r: utterance_sort_key(r.record, d.options, r.row_number))],
            d.options)]
    else:
        outs = [c for r in recs for c in convert(r.record, d.shape, d.options)]
    kinds = Counter(c.kind for c in outs if c.ok)
    reasons = Counter(c.quarantine_reason for c in outs if not c.ok)
    repairs: Counter = Counter()
    for c in outs:
        repairs.update(c.repairs)
    return d.shape, kinds, reasons, repairs


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_sample_fixture(rel: str) -> None:
    shape, kinds, reasons, _ = run_file(SAMPLES / rel)
    exp_shape, exp_kinds, exp_reasons = EXPECTED[rel]
    assert shape == exp_shape
    assert dict(kinds) == exp_kinds
    assert dict(reasons) == exp_reasons


def test_sample_fixture_contents() -> None:
    recs = [r.record for r in read_path(SAMPLES / "counsel_chat" / "20200325_counsel_chat_subset.csv")]
    d = detect_shape(recs)
    [c] = convert(recs[0], d.shape, d.options)
    assert c.messages[0]["content"].startswith("Can I change my feeling of being worthless to everyone?")
    assert "\n" in c.messages[0]["content"] and "\r" not in c.messages[0]["content"]
    kto = [r.record for r in read_path(SAMPLES / "sharegpt" / "llamafactory_kto_en_demo_subset.json")]
    d = detect_shape(kto)
    outs = [convert(r, d.shape, d.options)[0] for r in kto]
    assert {c.label for c in outs} == {True, False}
    assert sum(c.repairs.get("mojibake", 0) for c in outs) == 2
    assert not any("Ã" in m["content"] for c in outs for m in c.messages)


def test_sample_fixtures_small_and_licensed() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 1_000_000
    for folder in (p for p in SAMPLES.iterdir() if p.is_dir()):
        assert (folder / "LICENSE-NOTE.md").exists(), folder


def test_detect_json_text_columns_and_answer_lists() -> None:
    rows = [{"id": "1", "messages": '[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]'}]
    assert detect_shape(rows).shape == "chatml"
    assert detect_shape([{"question": "Why?", "answers": ["Because.", "Who knows."]}]).shape == "qa"
    d = detect_shape([{"instruction": "Fix:", "input": "x", "chosen": "a", "rejected": "b"}])
    assert d.shape == "preference" and d.options.question_key == "instruction" and d.options.input_key == "input"
