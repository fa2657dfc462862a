"""Interface smoke tests: JSON/JSONL(+gz) readers, chatml/sharegpt conversion, roles, policy."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from lakehouse.shapes import (
    FILE_FORMATS, SHAPES, Converted, InputError, RawRecord, ShapeOptions, convert, detect_file_format, detect_shape,
    iter_raw_records, load_policy, normalize_role,
)


def _stream(data: bytes):
    return lambda: io.BytesIO(data)


def _read(data: bytes, name: str, **kw) -> list[RawRecord]:
    return list(iter_raw_records(_stream(data), name, **kw))


CHATML = {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello!"}]}
SHAREGPT = {"id": "x", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}


def test_constants() -> None:
    assert "chatml" in SHAPES and len(SHAPES) == 10
    assert FILE_FORMATS == ("jsonl", "json", "csv", "parquet", "txt")


def test_options_json_roundtrip() -> None:
    o = ShapeOptions(role_map={"Narrator": "system"}, conversation_key="dialog", chunk_chars=100)
    assert ShapeOptions.from_json(o.to_json()) == o
    assert ShapeOptions.from_json(ShapeOptions().to_json()) == ShapeOptions()


def test_input_error_message() -> None:
    assert str(InputError("a.jsonl", "bad", line=3)) == "a.jsonl:3: bad"
    assert str(InputError("a.json", "bad")) == "a.json: bad"


@pytest.mark.parametrize("name,head,expected", [
    ("x.jsonl", b"{}", ("jsonl", False)),
    ("x.jsonl.gz", gzip.compress(b"{}\n", mtime=0), ("jsonl", True)),
    ("x.json", b"[]", ("json", False)),
    ("x.csv", b"a,b", ("csv", False)),
    ("x.parquet", b"PAR1", ("parquet", False)),
    ("x.txt", b"hello", ("txt", False)),
    ("blob", b'{"a": 1}\n{"a": 2}\n', ("jsonl", False)),
    ("blob", b'[{"a": 1}]', ("json", False)),
    ("blob.gz", gzip.compress(b'[{"a": 1}]', mtime=0), ("json", True)),
    ("blob", b"PAR1....", ("parquet", False)),
])
def test_detect_file_format(name: str, head: bytes, expected: tuple[str, bool]) -> None:
    assert detect_file_format(name, head) == expected


def test_detect_file_format_unknown() -> None:
    with pytest.raises(InputError, match="unknown file format"):
        detect_file_format("x.bin", b"\x00\x01garbage")


def test_jsonl_reader_with_bad_line() -> None:
    data = b'{"a": 1}\n\n{"a": 2,,}\n[1]\n{"a": 3}\n'
    recs = _read(data, "f.jsonl")
    assert [r.row_number for r in recs] == [1, 2, 3, 4]
    assert [r.line for r in recs] == [1, 3, 4, 5]
    assert recs[0].record == {"a": 1} and recs[0].error is None
    assert recs[1].record is None and recs[1].error.startswith("invalid JSON: ")
    assert recs[2].error == "not a JSON object (list)"
    assert recs[3].record == {"a": 3}


def test_jsonl_gz_and_bom() -> None:
    data = gzip.compress("\ufeff".encode() + b'{"a": "\xc3\xa9"}\r\n{"a": 2}\r\n')
    recs = _read(data, "f.jsonl.gz")
    assert [r.record for r in recs] == [{"a": "é"}, {"a": 2}]


def test_json_array_and_wrapper_and_single_object() -> None:
    assert [r.record for r in _read(b'[{"a": 1}, {"a": 2.5}]', "f.json")] == [{"a": 1}, {"a": 2.5}]
    wrapped = json.dumps({"version": 1, "data": [{"a": 1}, {"a": 2}]}).encode()
    assert [r.record for r in _read(wrapped, "f.json")] == [{"a": 1}, {"a": 2}]
    single = json.dumps(SHAREGPT, indent=2).encode()
    assert [r.record for r in _read(single, "f.json")] == [SHAREGPT]
    assert [r.row_number for r in _read(b'[{"a": 1}, 3]', "f.json")] == [1, 2]


def test_json_named_file_holding_jsonl() -> None:
    assert [r.record for r in _read(b'{"a": 1}\n{"a": 2}\n', "f.json")] == [{"a": 1}, {"a": 2}]


def test_broken_json_array_is_input_error() -> None:
    with pytest.raises(InputError, match="invalid JSON"):
        _read(b'[{"a": 1}, {"a": ', "f.json")


def test_truncated_gzip_is_input_error() -> None:
    data = gzip.compress(b"".join(b'{"a": %d}\n' % i for i in range(5000)))
    with pytest.raises(InputError, match="gzip"):
        _read(data[: len(data) // 2], "f.jsonl.gz")


@pytest.mark.parametrize("raw,expected", [
    ("user", "user"), (" Human ", "user"), ("GPT", "assistant"), ("therapist", "assistant"),
    ("Counsellor", "assistant"), ("system", "system"), ("client", "user"), ("narrator", None), ("", None),
])
def test_normalize_role(raw: str, expected: str | None) -> None:
    assert normalize_role(raw) == expected


def test_role_map_override() -> None:
    assert normalize_role("Narrator", {"narrator": "system"}) == "system"
    assert normalize_role("gpt", {"GPT": "user"}) == "user"


def test_convert_chatml() -> None:
    [c] = convert(CHATML, "chatml", ShapeOptions())
    assert isinstance(c, Converted) and c.kind == "sft" and c.quarantine_reason is None
    assert c.messages == CHATML["messages"]


def test_convert_sharegpt() -> None:
    [c] = convert(SHAREGPT, "sharegpt", ShapeOptions(conversation_key="conversations"))
    assert c.messages == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


def test_unknown_role_quarantined() -> None:
    rec = {"conversations": [{"from": "narrator", "value": "Once"}, {"from": "gpt", "value": "Hello"}]}
    [c] = convert(rec, "sharegpt", ShapeOptions())
    assert c.quarantine_reason == "unknown role 'narrator'"
    [c] = convert(rec, "sharegpt", ShapeOptions(role_map={"narrator": "user"}))
    assert c.quarantine_reason is None


def test_validation_rules() -> None:
    def conv(*turns: tuple[str, str]) -> Converted:
        return convert({"messages": [{"role": r, "content": t} for r, t in turns]}, "chatml", ShapeOptions())[0]

    c = conv(("user", "a"), ("user", "b"), ("assistant", "c"), ("user", "d"))
    assert c.messages == [{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]
    assert c.repairs["merged_turns"] == 1 and c.repairs["trimmed_trailing_user"] == 1
    c = conv(("assistant", "Welcome"), ("user", "hi"), ("assistant", "ok"))
    assert c.quarantine_reason is None and c.messages[0]["role"] == "assistant"
    assert conv(("user", "a"), ("assistant", "  ")).quarantine_reason == "empty_turn"
    assert conv(("user", "a"), ("user", "b")).quarantine_reason == "no_assistant_turn"
    assert conv(("assistant", "a")).quarantine_reason == "too_few_turns"
    assert conv(("user", "a"), ("assistant", "b"), ("system", "x")).quarantine_reason == "misplaced_system"


def test_whitespace_cleaning_counted() -> None:
    [c] = convert({"messages": [{"role": "user", "content": " a   b\r\n\r\n\r\n\r\nc "},
                                {"role": "assistant", "content": "ok"}]}, "chatml", ShapeOptions())
    assert c.messages[0]["content"] == "a b\n\nc"
    assert c.repairs == {"whitespace": 1}


def test_detect_chatml_and_sharegpt() -> None:
    assert detect_shape([CHATML] * 3).shape == "chatml"
    d = detect_shape([SHAREGPT] * 3)
    assert d.shape == "sharegpt" and d.options.conversation_key == "conversations"
    assert d.options.role_key == "from" and d.options.text_key == "value"


def test_detect_nothing_fits_lists_keys() -> None:
    with pytest.raises(InputError, match="keys seen: foo"):
        detect_shape([{"foo": 1, "bar": [1, 2]}] * 3)


def test_policy_loads_packaged_yaml(tmp_path) -> None:
    p = load_policy()
    assert p.min_turns == 2 and p.consecutive_same_role == "merge" and p.trim_trailing_user
    f = tmp_path / "v.yml"
    f.write_text("min_turns: 4\nempty_turns: drop\n")
    assert load_policy(str(f)).min_turns == 4
    f.write_text("nope: 1\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_policy(str(f))
