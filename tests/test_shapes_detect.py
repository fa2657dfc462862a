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


# -- shapes found by content (issue 15) ---------------------------------------------------------------
def _land_like(path: Path, options: ShapeOptions = ShapeOptions()):
    """What landing does: format from name + head, records, detection, conversion (grouped per file)."""
    from lakehouse.shapes import detect_file_format

    head = path.read_bytes()[:4096]
    fmt, _ = detect_file_format(path.name, head)
    recs = list(read_path(path, fmt, options))
    d = detect_shape([r.record for r in recs if r.record is not None], options, fmt)
    return fmt, recs, d


def test_json_lines_inside_txt_is_read_as_json_lines(tmp_path: Path) -> None:
    import json

    rows = [{"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
            for i in range(5)]
    p = tmp_path / "train.txt"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fmt, recs, d = _land_like(p)
    assert fmt == "jsonl" and d.shape == "chatml" and len(recs) == 5
    # a first line longer than the sniffed head still counts
    long = tmp_path / "long.txt"
    long.write_text(json.dumps({"text": "x " * 5000}) + "\n" + json.dumps({"text": "y"}) + "\n")
    assert _land_like(long)[0] == "jsonl"
    # prose stays text
    prose = tmp_path / "notes.txt"
    prose.write_text("{This} is a note, not JSON.\nSecond line.\n")
    assert _land_like(prose)[0] == "txt"


def _turn_file(path: Path, turns: list[tuple[str, str]]) -> Path:
    import json

    path.write_text(json.dumps([{"role": r, "content": c, "annotation": ["x"]} for r, c in turns]))
    return path


def test_json_file_of_one_sessions_turns_is_one_conversation(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    for i in range(3):
        _turn_file(folder / f"s{i}.json", [("client", f"I feel low {i}"), ("counselor", "Tell me more?"),
                                           ("client", "It started in May."), ("counselor", "What changed then?")])
    for f in sorted(folder.iterdir()):
        fmt, recs, d = _land_like(f)
        assert fmt == "json" and d.shape == "utterance_rows" and d.options.conversation_key is None
        assert "one conversation per file" in d.reason
        assert {utterance_group_id(r.record, d.options) for r in recs} == {""}
        [c] = convert_group([r.record for r in recs], d.options)
        assert c.ok and [m["role"] for m in c.messages] == ["user", "assistant", "user", "assistant"]


def test_speaker_codes_roles_inferred_from_alternation(tmp_path: Path) -> None:
    f = _turn_file(tmp_path / "codes.json", [("P1", "Hi, I can't sleep."), ("P2", "What keeps you awake?"),
                                             ("P1", "Worry."), ("P2", "What kind of worry?"), ("P1", "Money.")])
    _, recs, d = _land_like(f)
    assert d.options.role_map == {"P1": "user", "P2": "assistant"}
    assert "roles inferred from turn order" in d.reason and "'P1' -> user" in d.reason
    [c] = convert_group([r.record for r in recs], d.options)
    assert c.ok and c.messages[0] == {"role": "user", "content": "Hi, I can't sleep."}
    # message lists too: every conversation opens with the same code
    recs2 = [{"messages": [{"role": "A", "content": f"q{i}"}, {"role": "B", "content": f"a{i}"}]} for i in range(4)]
    d2 = detect_shape(recs2)
    assert d2.shape == "chatml" and d2.options.role_map == {"A": "user", "B": "assistant"}
    [c2] = convert(recs2[0], d2.shape, d2.options)
    assert c2.ok and [m["role"] for m in c2.messages] == ["user", "assistant"]
    # a user's --role-map wins over the inference
    d3 = detect_shape(recs2, ShapeOptions(role_map={"A": "assistant", "B": "user"}))
    assert d3.options.role_map == {"A": "assistant", "B": "user"} and "roles inferred" not in d3.reason


def test_ambiguous_speaker_codes_are_quarantined_with_a_role_map_hint() -> None:
    # openers differ between conversations: which code is the client is not settled
    recs = [{"messages": [{"role": "A", "content": "q"}, {"role": "B", "content": "a"}]},
            {"messages": [{"role": "B", "content": "q"}, {"role": "A", "content": "a"}]}]
    d = detect_shape(recs)
    assert d.options.role_map == {} and "--role-map A=user,B=assistant" in d.reason
    assert "open with different speakers" in d.reason
    [c] = convert(recs[0], d.shape, d.options)
    assert c.quarantine_reason.startswith("unknown role 'A' (speaker codes A, B")
    assert "--role-map A=user,B=assistant" in c.quarantine_reason
    # three codes, and consecutive turns by one code, are ambiguous too
    three = [{"messages": [{"role": "A", "content": "q"}, {"role": "B", "content": "a"}, {"role": "C", "content": "b"}]}]
    assert "3 speaker codes" in detect_shape(three).reason
    twice = [{"messages": [{"role": "A", "content": "q"}, {"role": "A", "content": "q2"}, {"role": "B", "content": "a"}]}]
    assert "consecutive turns" in detect_shape(twice).reason
    rows = [{"speaker": s, "text": t} for s, t in (("X", "hi"), ("X", "again"), ("Y", "hello"))]
    d4 = detect_shape(rows, file_format="json")
    [c4] = convert_group(rows, d4.options)
    assert d4.shape == "utterance_rows" and c4.quarantine_reason.startswith("unknown role 'X'")
    # a single unknown name among real roles keeps the plain reason
    [c5] = convert({"messages": [{"role": "narrator", "content": "x"}, {"role": "assistant", "content": "y"}]},
                   "chatml", ShapeOptions())
    assert c5.quarantine_reason == "unknown role 'narrator'"
