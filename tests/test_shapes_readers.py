"""Streaming readers: CSV quirks, encodings, Parquet, plain text, gzip, JSON arrays in bounded memory."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.shapes import InputError, RawRecord, ShapeOptions, chunk_text, iter_raw_records, read_path


class _NoSeek(io.RawIOBase):
    """A forward-only stream (like an HTTP body)."""

    def __init__(self, data: bytes) -> None:
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        return self._b.readinto(b)


def _read(data: bytes, name: str, seekable: bool = True, **kw) -> list[RawRecord]:
    opener = (lambda: io.BytesIO(data)) if seekable else (lambda: _NoSeek(data))
    return list(iter_raw_records(opener, name, **kw))


def _read_stats(data: bytes, name: str) -> tuple[list[RawRecord], dict]:
    stats: dict = {}
    return list(iter_raw_records(lambda: io.BytesIO(data), name, stats=stats)), stats


def _reconcile(recs: list[RawRecord], stats: dict, data: str) -> None:
    """Every physical line after the header is in exactly one record or error (or is blank)."""
    lines = data.splitlines()
    assert stats["physical_lines"] == len(lines)
    covered = 1   # header
    for r in recs:
        span = 1 if r.record is None else 1 + sum(v.count("\n") for v in r.record.values())
        covered += span
    assert covered + sum(1 for line in lines[1:] if not line.strip()) == len(lines)


# -- strict CSV (malformed rows are quarantined alone, lines reconcile) -------------------------
def test_csv_unclosed_quote_quarantines_only_its_line() -> None:
    data = 'id,question,answer\n1,"how are you,fine\n2,ok,yes\n3,"multi\nline",done\n4,a,b\n'
    recs, stats = _read_stats(data.encode(), "t.csv")
    good = [r.record for r in recs if r.record]
    assert [g["id"] for g in good] == ["2", "3", "4"]
    assert good[1]["question"] == "multi\nline"
    [bad] = [r for r in recs if r.error]
    assert bad.error.startswith("invalid CSV") and bad.raw == '1,"how are you,fine' and bad.line == 2
    _reconcile(recs, stats, data)


def test_csv_unclosed_quote_that_would_merge_rows_is_caught() -> None:
    # the quote opened on row 1 closes on row 2: field counts match, but the lines say two rows
    data = 'id,question,answer\n1,"hello,x\n2,z",w\n3,a,b\n'
    recs, stats = _read_stats(data.encode(), "t.csv")
    assert [r.record["id"] for r in recs if r.record] == ["2", "3"]
    assert [r.raw for r in recs if r.error] == ['1,"hello,x']
    # (row 2 alone has a stray quote inside an unquoted field: kept as text, strict CSV allows it)
    assert recs[1].record["question"] == 'z"'


def test_csv_stray_quote_after_a_quoted_field_and_unclosed_at_eof() -> None:
    data = 'a,b\n"x"y,1\n2,3\n4,"never closed\n'
    recs, stats = _read_stats(data.encode(), "t.csv")
    assert [(r.record, r.error is not None, r.raw) for r in recs] == [
        (None, True, '"x"y,1'), ({"a": "2", "b": "3"}, False, None), (None, True, '4,"never closed')]
    assert all(r.error.startswith("invalid CSV:") for r in recs if r.error)
    _reconcile(recs, stats, data)


# -- JSON nesting, UTF-16, invalid UTF-8 -------------------------------------------------------
def test_deeply_nested_json_line_is_quarantined_alone() -> None:
    deep = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
    data = f'{{"text": "one"}}\n{deep}\n{{"text": "three"}}\n'.encode()
    recs = _read(data, "t.jsonl")
    assert [r.record for r in recs] == [{"text": "one"}, None, {"text": "three"}]
    assert "nested deeper than" in recs[1].error and recs[1].raw == deep
    mid = '{"a": ' + "[" * 300 + "]" * 300 + "}"      # parses, but deeper than the limit
    assert _read(mid.encode() + b"\n" + b'{"b": 1}\n', "t.jsonl")[0].error.endswith("levels")
    arr = ('[{"text": "one"}, ' + deep + ', {"text": "three"}]').encode()
    recs = _read(arr, "t.json")
    assert [r.record for r in recs] == [{"text": "one"}, None, {"text": "three"}] and "nested" in recs[1].error
    single = ('{"text": "one", "meta": ' + deep[6:-1] + "}").encode()      # one object, too deep inside
    [rec] = _read(single, "t.json")
    assert rec.record is None and "nested" in rec.error


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_transcoded(encoding: str) -> None:
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    rows = [{"text": "naïve café ✓"}, {"text": "two"}]
    for name, body in [("t.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"),
                       ("t.json", json.dumps(rows, ensure_ascii=False)), ("t.csv", "text\nnaïve café ✓\ntwo\n"),
                       ("noext", "\n".join(json.dumps(r) for r in rows) + "\n")]:
        recs, stats = _read_stats(bom + body.encode(encoding), name)
        assert [r.record for r in recs] == rows, name
        assert stats.get("utf16") == 1 and not stats.get("invalid_utf8")


def test_invalid_utf8_is_counted_as_a_repair() -> None:
    recs, stats = _read_stats(b'{"text": "caf\xe9"}\n{"text": "ok \xc3\xa9"}\n{"text": "\x93q\x94"}\n', "t.jsonl")
    assert [r.record["text"] for r in recs] == ["café", "ok é", "\u201cq\u201d"]
    assert stats["invalid_utf8"] == 3
    recs, stats = _read_stats(b'{"text": "clean \xc3\xa9"}\n', "t.jsonl")
    assert not stats.get("invalid_utf8")


# -- CSV -------------------------------------------------------------------------------------
def test_csv_crlf_and_embedded_newlines() -> None:
    data = b'id,question,answer\r\n1,"line one\r\nline two","ok, fine"\r\n2,"say ""hi""",bye\r\n'
    recs = _read(data, "t.csv")
    assert [r.record for r in recs] == [
        {"id": "1", "question": "line one\r\nline two", "answer": "ok, fine"},
        {"id": "2", "question": 'say "hi"', "answer": "bye"},
    ]
    assert [r.line for r in recs] == [2, 4]


def test_csv_huge_field() -> None:
    big = "x" * 250_000
    data = f"question,answer\nq,\"{big}\"\n".encode()
    [rec] = _read(data, "t.csv")
    assert len(rec.record["answer"]) == 250_000


def test_csv_latin1_file() -> None:
    data = "question;answer\nÇa va? Je suis fatigué;Très bien, café\n".encode("latin-1")
    [rec] = _read(data, "t.csv")
    assert rec.record == {"question": "Ça va? Je suis fatigué", "answer": "Très bien, café"}


def test_csv_cp1252_quotes_and_utf8_bom() -> None:
    data = "a,b\n\u201csmart\u201d,x\n".encode("cp1252")
    assert _read(data, "t.csv")[0].record == {"a": "\u201csmart\u201d", "b": "x"}
    data = "\ufeffa,b\n1,é\n".encode("utf-8")
    assert _read(data, "t.csv")[0].record == {"a": "1", "b": "é"}


def test_csv_bad_row_and_blank_header_names() -> None:
    data = b",q,q\n0,a,b\n1,only\n2,c,d\n"
    recs = _read(data, "t.csv")
    assert recs[0].record == {"column_1": "0", "q": "a", "q_2": "b"}
    assert recs[1].record is None and recs[1].error == "invalid CSV: row has 2 fields, header has 3"
    assert recs[1].raw == "1,only"
    assert recs[2].record == {"column_1": "2", "q": "c", "q_2": "d"} and recs[2].row_number == 3


def test_tsv_and_gzipped_csv() -> None:
    assert _read(b"a\tb\n1\t2\n", "t.tsv")[0].record == {"a": "1", "b": "2"}
    assert _read(gzip.compress(b"a,b\n1,2\n"), "t.csv.gz")[0].record == {"a": "1", "b": "2"}


# -- encodings / JSON ------------------------------------------------------------------------
def test_jsonl_latin1_line() -> None:
    data = '{"text": "naïve"}\n'.encode("latin-1")
    assert _read(data, "t.jsonl")[0].record == {"text": "naïve"}


def test_malformed_jsonl_line_does_not_fail_the_file() -> None:
    data = b'{"a": 1}\n{"a": 2\n{"a": 3}\n'
    recs = _read(data, "t.jsonl")
    assert len(recs) == 3 and recs[1].error.startswith("invalid JSON:") and recs[1].line == 2
    assert recs[2].record == {"a": 3}


def test_json_latin1_array() -> None:
    data = '[{"text": "café"}]'.encode("latin-1")
    assert _read(data, "t.json")[0].record == {"text": "café"}


def test_truncated_gz_json_array() -> None:
    data = gzip.compress(json.dumps([{"i": i, "t": "x" * 50} for i in range(3000)]).encode())
    with pytest.raises(InputError) as e:
        _read(data[:-100], "t.json.gz")
    assert str(e.value).startswith("t.json.gz: ")


def test_json_scalar_top_level_is_input_error() -> None:
    with pytest.raises(InputError):
        _read(b'"just a string"', "t.json")


def test_forced_format_still_detects_gzip() -> None:
    recs = _read(gzip.compress(b'{"a": 1}\n'), "blob", file_format="jsonl")
    assert recs[0].record == {"a": 1}


# -- Parquet ---------------------------------------------------------------------------------
def _parquet_bytes(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


@pytest.mark.parametrize("seekable", [True, False])
def test_parquet_seekable_or_spooled(seekable: bool) -> None:
    import datetime

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
             "when": datetime.date(2024, 1, i % 28 + 1)} for i in range(600)]
    recs = _read(_parquet_bytes(rows), "t.parquet", seekable=seekable)
    assert len(recs) == 600 and recs[0].line is None and recs[599].row_number == 600
    assert recs[0].record["messages"][0] == {"role": "user", "content": "q0"}
    assert recs[0].record["when"] == "2024-01-01"
    json.dumps(recs[0].record)


def test_parquet_gz_and_corrupt() -> None:
    data = _parquet_bytes([{"text": "hello"}])
    assert _read(gzip.compress(data), "t.parquet.gz")[0].record == {"text": "hello"}
    with pytest.raises(InputError, match="Parquet"):
        _read(b"PAR1 not really parquet PAR1", "t.parquet")


# -- plain text ------------------------------------------------------------------------------
def test_txt_chunks_on_boundaries() -> None:
    paras = [("Sentence number %d is here. " % i) * 20 for i in range(10)]
    text = "\n\n".join(paras)
    recs = _read(text.encode(), "t.txt", options=ShapeOptions(chunk_chars=1500))
    chunks = [r.record["text"] for r in recs]
    assert all(len(c) <= 1500 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert recs[0].line == 1 and recs[1].line > 1


def test_chunk_text_hard_cut_and_single_line() -> None:
    assert chunk_text("a" * 2500, 1000) == ["a" * 1000, "a" * 1000, "a" * 500]
    one_line = "Word after word. " * 500
    parts = chunk_text(one_line, 1000)
    assert all(len(p) <= 1000 and p.endswith(".") for p in parts)
    assert chunk_text("short", 0) == ["short"]


def test_txt_transcript_chunks_start_at_speakers() -> None:
    lines = [f"Client: I keep worrying about thing {i}, {'and more ' * 10}\nTherapist: Let us look at it. " * 1
             for i in range(40)]
    recs = _read(("Session 3\n" + "".join(lines)).encode(), "s.txt", options=ShapeOptions(chunk_chars=800))
    assert len(recs) > 3
    assert all(r.record["text"].startswith(("Client:", "Therapist:")) for r in recs[1:])


def test_txt_sample_fixture() -> None:
    path = Path(__file__).parent / "fixtures" / "samples" / "speeches_sotu" / "1990_george_bush_r.txt"
    recs = list(read_path(path))
    assert len(recs) >= 5 and all(len(r.record["text"]) <= 4000 for r in recs)


# -- bounded memory --------------------------------------------------------------------------
# Peak RSS of the child itself: VmHWM (ru_maxrss is inherited from the forking pytest process).
_STREAM_SCRIPT = """
import re, sys
from lakehouse.shapes import read_path
n = 0
for r in read_path(sys.argv[1]):
    assert r.record is not None
    n += 1
status = open("/proc/self/status").read()
print(n, re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak RSS")
def test_100mb_json_array_streams_in_bounded_memory(tmp_path: Path) -> None:
    rec = json.dumps({"conversations": [{"from": "human", "value": "I feel anxious about work. " * 8},
                                        {"from": "gpt", "value": "That sounds hard. " * 30}]}).encode()
    path = tmp_path / "big.json"
    n = (100 * 1024 * 1024) // (len(rec) + 2) + 1
    with open(path, "wb") as f:
        f.write(b"[")
        f.write(b",\n".join([rec] * 10_000))
        for _ in range(n // 10_000 - 1):
            f.write(b",\n")
            f.write(b",\n".join([rec] * 10_000))
        f.write(b"]")
    size = path.stat().st_size
    assert size >= 95 * 1024 * 1024
    out = subprocess.run([sys.executable, "-c", _STREAM_SCRIPT, str(path)], capture_output=True, text=True,
                         timeout=120, check=True)
    count, maxrss_kb = map(int, out.stdout.split())
    assert count == (n // 10_000) * 10_000
    # the whole file as bytes alone would be ~100 MB; parsed it would be several times that
    assert maxrss_kb < 80 * 1024, f"peak RSS {maxrss_kb / 1024:.0f} MB while streaming {size / 2**20:.0f} MB"


def test_json_object_wrappers() -> None:
    def rd(obj: object) -> list:
        return [r.record for r in _read(json.dumps(obj, indent=1).encode(), "x.json")]

    assert rd({"intents": [{"tag": "a"}, {"tag": "b"}]}) == [{"tag": "a"}, {"tag": "b"}]
    single = {"messages": [{"role": "user", "content": "x"}], "meta": {"a": [1]}}
    assert rd(single) == [single]
    assert rd({"version": 2, "data": [{"a": 1}], "extra": [1, 2]}) == [{"a": 1}]


def test_json_named_jsonl_with_long_first_line() -> None:
    line = json.dumps({"text": "x" * 100_000}).encode()
    recs = _read(line + b"\n" + line + b"\n", "t.json")
    assert len(recs) == 2 and len(recs[1].record["text"]) == 100_000
