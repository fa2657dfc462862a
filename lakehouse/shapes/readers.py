"""Streaming readers: one raw file -> :class:`RawRecord` per record, in bounded memory.

Formats: JSON Lines, JSON (array, object wrapping a record list, single object), CSV, Parquet and
plain text, each optionally gzip-compressed (by name or magic bytes). Text is decoded as UTF-8
(BOM stripped); a file starting with a UTF-16 BOM is transcoded from UTF-16; byte sequences that
are not UTF-8 are decoded as cp1252 (latin-1 for the five bytes cp1252 leaves undefined), so
latin-1/cp1252 files and mixed files load without loss, and each such sequence is counted as a
repair (``invalid_utf8``) in the ``stats`` of :func:`iter_raw_records`.

Whole-file failures (truncated gzip, broken JSON array syntax, unreadable Parquet) raise
:class:`InputError`, possibly after some records were yielded: callers must not keep a partial
file. A single bad JSON Lines line, a JSON record nested deeper than :data:`MAX_JSON_DEPTH`, or a
malformed CSV row (strict parsing: an unclosed or stray quote, a wrong field count) is a
``RawRecord`` with ``error`` set and its original text in ``raw``; CSV rows are reconciled against
the physical lines (``stats["physical_lines"]``).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from collections import deque
from typing import IO, BinaryIO, Callable, Iterable, Iterator, Mapping

from lakehouse.shapes.types import FILE_FORMATS, InputError, RawRecord, ShapeOptions

HEAD_BYTES = 64 * 1024
TEXT_BLOCK_CHARS = 64 * 1024
PARQUET_BATCH_ROWS = 256
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
MAX_JSON_DEPTH = 128            # a record nested deeper is quarantined alone (and orjson writes up to 255)
MAX_CSV_RECORD_LINES = 10_000   # a quoted CSV field running over more lines is taken for an unclosed quote
DECODE_ERRORS = "lakehouse_cp1252_fallback"
# Top-level keys of a JSON object whose array value is the record list ({"data": [...]}).
JSON_WRAPPER_KEYS = frozenset({
    "data", "train", "test", "validation", "valid", "dev", "rows", "records", "items", "examples",
    "instances", "dataset", "samples", "entries",
})

_EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl", ".json": "json", ".csv": "csv",
    ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".txt": "txt", ".text": "txt", ".md": "txt",
}


# -- decoding ------------------------------------------------------------------------------------
_STATS = threading.local()


def _count(key: str, n: int = 1) -> None:
    stats = getattr(_STATS, "current", None)
    if stats is not None:
        stats[key] = stats.get(key, 0) + n


def _with_stats(gen: Iterator[RawRecord], stats: dict[str, int]) -> Iterator[RawRecord]:
    """Run each step of ``gen`` with ``stats`` as the counter the decoders report to."""
    while True:
        prev = getattr(_STATS, "current", None)
        _STATS.current = stats
        try:
            item = next(gen)
        except StopIteration:
            return
        finally:
            _STATS.current = prev
        yield item


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    _count("invalid_utf8")
    out = []
    for b in bad:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out), exc.end


codecs.register_error(DECODE_ERRORS, _cp1252_fallback)


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM stripped) with cp1252/latin-1 fallback for invalid sequences."""
    return data.decode("utf-8-sig", errors=DECODE_ERRORS)


def _text(stream: IO[bytes], newline: str | None = None) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors=DECODE_ERRORS, newline=newline)  # type: ignore[arg-type]


class _Prefixed(io.RawIOBase):
    """Bytes already read (``head``) followed by the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        if len(self._head):
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _Utf8Recoder(io.RawIOBase):
    """A binary stream of UTF-8 bytes re-encoded from a decoded text stream (feeds ijson)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        while not self._buf:
            chunk = self._text.read(TEXT_BLOCK_CHARS)
            if not chunk:
                return 0
            self._buf = chunk.encode("utf-8", "surrogatepass")
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _utf16_encoding(head: bytes) -> str | None:
    """'utf-16' when ``head`` starts with a UTF-16 byte-order mark (and not a UTF-32 one)."""
    if head.startswith(UTF32_BOMS):
        return None
    return "utf-16" if head.startswith(UTF16_BOMS) else None


def _transcode_utf16(stream: IO[bytes]) -> IO[bytes]:
    """A UTF-8 byte stream of a UTF-16 (BOM) stream; invalid sequences become U+FFFD."""
    text = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")  # type: ignore[arg-type]
    return io.BufferedReader(_Utf8Recoder(text), buffer_size=HEAD_BYTES)


def _read_head(stream: IO[bytes], n: int = HEAD_BYTES) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _peek(stream: IO[bytes], n: int = HEAD_BYTES) -> tuple[bytes, IO[bytes]]:
    head = _read_head(stream, n)
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=HEAD_BYTES)


# -- format detection ----------------------------------------------------------------------------
def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
    except zlib.error:
        return b""


def _first_line_is_object(text: bytes) -> bool:
    first, sep, rest = text.partition(b"\n")
    if not sep or not rest.strip():
        return False
    try:
        return isinstance(json.loads(decode_bytes(first)), dict)
    except ValueError:
        return False


def _sniff_content(head: bytes) -> str | None:
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if _utf16_encoding(head):
        head = head[: len(head) // 2 * 2].decode("utf-16", errors="replace").encode("utf-8")
    body = head.removeprefix(UTF8_BOM).lstrip()
    if body[:1] == b"[":
        return "json"
    if body[:1] == b"{":
        return "jsonl" if _first_line_is_object(body) else "json"
    return None


def _txt_holds_jsonl(head: bytes) -> bool:
    """A .txt whose first line is a JSON object (or opens one, '{"', past the sniffed head) is JSON Lines."""
    body = head.removeprefix(UTF8_BOM).lstrip()
    if body[:1] != b"{":
        return False
    first, sep, _ = body.partition(b"\n")
    if not sep and len(head) >= HEAD_BYTES // 16 and re.match(rb'\{\s*"[^"\n]{1,200}"\s*:', body):
        return True  # one line longer than the head: an object opening with a key
    try:
        return isinstance(json.loads(decode_bytes(first)), dict)
    except ValueError:
        return False


def _strip_gz(name: str) -> str:
    low = name.lower()
    for suffix in (".gz", ".gzip"):
        if low.endswith(suffix):
            return low[: -len(suffix)]
    return low


def detect_file_format(name: str, head: bytes) -> tuple[str, bool]:
    """(format, gzipped) from the file name and its first bytes; InputError when neither tells.

    Gzip is recognized by its magic bytes (or by a ``.gz`` name when ``head`` is empty). The
    extension under any ``.gz`` picks the format; without a known extension the content decides
    (``PAR1`` -> parquet, ``[`` -> json, one JSON object per line -> jsonl, ``{`` -> json).
    """
    gz = head.startswith(GZIP_MAGIC) or (not head and name.lower().endswith((".gz", ".gzip")))
    base = _strip_gz(name)
    ext = os.path.splitext(base)[1]
    if ext in _EXTENSIONS:
        if _EXTENSIONS[ext] == "txt" and _txt_holds_jsonl(_gunzip_head(head) if head.startswith(GZIP_MAGIC) else head):
            return "jsonl", gz  # JSON Lines shipped as .txt: the content decides
        return _EXTENSIONS[ext], gz
    fmt = _sniff_content(_gunzip_head(head) if head.startswith(GZIP_MAGIC) else head)
    if fmt:
        return fmt, gz
    raise InputError(name, f"unknown file format (extension {ext or 'none'}); expected one of {', '.join(FILE_FORMATS)}"
                           " optionally .gz, or JSON/Parquet content")


# -- JSON Lines ----------------------------------------------------------------------------------
def json_depth(value: object, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value (iterative; stops counting past ``limit`` + 1)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _too_deep_text(line: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the brackets of ``line`` (outside strings) nest deeper than ``limit``."""
    depth = 0
    in_str = esc = False
    for ch in line:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_json_line(line: str) -> tuple[dict | None, str | None]:
    """(record, None) or (None, reason) for one JSON Lines line."""
    import orjson

    too_deep = f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        if _too_deep_text(line):
            return None, too_deep
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            return None, f"invalid JSON: {e.msg}"
        except RecursionError:
            return None, too_deep
    if not isinstance(obj, dict):
        return None, f"not a JSON object ({type(obj).__name__})"
    if json_depth(obj) > MAX_JSON_DEPTH:
        return None, too_deep
    return obj, None


def _read_jsonl(stream: IO[bytes], name: str, options: ShapeOptions) -> Iterator[RawRecord]:
    head, stream = _peek(stream)
    body = head.removeprefix(UTF8_BOM).lstrip()
    if body[:1] == b"[" or (body[:1] == b"{" and body[1:].split(b"\n", 1)[0].strip() == b""):
        yield from _read_json(stream, name, options)  # a JSON document named .jsonl
        return
    row = 0
    for lineno, line in enumerate(_text(stream), start=1):
        s = line.strip()
        if not s:
            continue
        row += 1
        rec, err = parse_json_line(s)
        yield RawRecord(row_number=row, line=lineno, record=rec, error=err, raw=s if err else None)


# -- JSON ----------------------------------------------------------------------------------------
def _build_value(events: Iterator[tuple[str, str, object]], event: str, value: object) -> object:
    """Consume the events of one JSON value that started with (event, value) and return it."""
    import ijson

    if event not in ("start_map", "start_array"):
        return value
    builder: "ijson.ObjectBuilder | None" = ijson.ObjectBuilder()
    builder.event(event, value)  # type: ignore[union-attr]
    depth = 1
    for _, ev, val in events:
        if builder is not None:
            builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                builder = None   # skip the rest of this value: it is quarantined alone
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return builder.value if builder is not None else _TOO_DEEP
    raise ValueError("unexpected end of JSON")


class _TooDeep:
    pass


_TOO_DEEP = _TooDeep()


def _walk_object(events: Iterator[tuple[str, str, object]]) -> Iterator[object]:
    """Items of the first wrapper array ({"data": [...]}, or {"intents": [{...}, ...]} under a key that
    is not a record field), else the object itself."""
    from lakehouse.shapes.keys import RECORD_LIST_KEYS, norm_key

    top: dict = {}
    streamed = False
    while True:
        _, ev, key = next(events)
        if ev == "end_map":
            break
        _, ev, val = next(events)
        if ev == "start_array" and not streamed:
            _, ev2, val2 = next(events)
            wrapper = str(key).lower() in JSON_WRAPPER_KEYS or (
                ev2 == "start_map" and norm_key(str(key)) not in RECORD_LIST_KEYS)
            if wrapper:
                streamed = True
                while ev2 != "end_array":
                    yield _build_value(events, ev2, val2)
                    _, ev2, val2 = next(events)
                continue
            items = []
            while ev2 != "end_array":
                items.append(_build_value(events, ev2, val2))
                _, ev2, val2 = next(events)
            top[key] = _TOO_DEEP if any(i is _TOO_DEEP for i in items) else items
        else:
            top[key] = _build_value(events, ev, val)
    if not streamed:
        yield _TOO_DEEP if any(v is _TOO_DEEP for v in top.values()) else top


def _json_values(stream: IO[bytes], first: bytes) -> Iterator[object]:
    import ijson

    utf8 = io.BufferedReader(_Utf8Recoder(_text(stream)), buffer_size=HEAD_BYTES)
    if first == b"[":   # items one by one (events, so one element nested too deep is skipped alone)
        events = ijson.parse(utf8, use_float=True)
        _, ev, val = next(events)
        for _, ev, val in events:
            if ev == "end_array":
                break
            yield _build_value(events, ev, val)
        for _ in events:   # trailing garbage after the array is an error, as before
            pass
        return
    # several top-level objects (JSON Lines whose first line is longer than the sniffed head,
    # or concatenated JSON) are records one after another
    events = ijson.parse(utf8, use_float=True, multiple_values=True)
    _, ev, val = next(events)
    if ev != "start_map":
        raise ValueError("top level is not an array or object")
    yield from _walk_object(events)
    for _, ev, val in events:
        yield _build_value(events, ev, val)


def _read_json(stream: IO[bytes], name: str, options: ShapeOptions) -> Iterator[RawRecord]:
    import ijson

    head, stream = _peek(stream)
    body = head.removeprefix(UTF8_BOM).lstrip()
    if not body:
        return
    if body[:1] == b"{" and _first_line_is_object(body):
        yield from _read_jsonl(stream, name, options)  # JSON Lines named .json
        return
    if body[:1] not in (b"[", b"{"):
        raise InputError(name, "invalid JSON: top level is not an array or object")
    row = 0
    try:
        for value in _json_values(stream, body[:1]):
            row += 1
            if value is _TOO_DEEP:
                yield RawRecord(row_number=row, line=None, record=None,
                                error=f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
            elif isinstance(value, dict):
                yield RawRecord(row_number=row, line=None, record=value, error=None)
            else:
                yield RawRecord(row_number=row, line=None, record=None,
                                error=f"not a JSON object ({type(value).__name__})")
    except (ijson.JSONError, ValueError, StopIteration) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(name, f"invalid JSON after {row} records: {detail}") from None


# -- CSV -----------------------------------------------------------------------------------------
def _raise_csv_field_limit() -> None:
    limit = min(sys.maxsize, 2**31 - 1)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header_names(row: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(row, start=1):
        name = raw.strip() or f"column_{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names


class _Lines:
    """Physical lines for csv.reader, with push-back; ``taken`` holds the lines of the current record."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._it = lines
        self._back: deque[str] = deque()
        self.taken: list[str] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self._back.popleft() if self._back else next(self._it)
        self.taken.append(line)
        if len(self.taken) > MAX_CSV_RECORD_LINES:
            raise csv.Error(f"a quoted field runs over more than {MAX_CSV_RECORD_LINES} lines")
        return line

    def take(self) -> list[str]:
        taken, self.taken = self.taken, []
        return taken

    def push_back(self, lines: list[str]) -> None:
        self._back.extendleft(reversed(lines))


def _strict_fields(line: str, delimiter: str) -> list[str] | None:
    """The fields of one physical line parsed alone (strict), or None if it is not a complete row."""
    try:
        rows = list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _merged_rows(taken: list[str], delimiter: str, width: int) -> bool:
    """A record spanning several lines looks like rows merged by an unclosed quote: its first line is
    not a complete row and starts with an id (digits), and a later line, alone, is a complete row of
    the header's width starting with an id too."""
    first_id = taken[0].split(delimiter, 1)[0].strip()
    if width < 2 or not first_id.isdigit() or _strict_fields(taken[0], delimiter):
        return False
    for line in taken[1:]:
        fields = _strict_fields(line, delimiter)
        if fields and len(fields) == width and fields[0].strip().isdigit():
            return True
    return False


def _read_csv(stream: IO[bytes], name: str, options: ShapeOptions) -> Iterator[RawRecord]:
    """Strict CSV: a malformed row (unclosed or stray quote, wrong field count) is a RawRecord with an
    ``invalid CSV`` error and its original line in ``raw``, and parsing resumes at the next physical
    line, so one bad quote never swallows or merges the rows after it. Every physical line ends up in
    exactly one record, one error or one skipped blank line (``physical_lines`` in the stats)."""
    _raise_csv_field_limit()
    text = _text(stream, newline="")
    first = text.readline()
    if not first.strip():
        return
    delimiter = _sniff_delimiter(first)
    lines = _Lines(itertools.chain([first], text))

    def reader() -> Iterator[list[str]]:
        return csv.reader(lines, delimiter=delimiter, strict=True)

    rows = reader()
    try:
        header = _header_names(next(rows))
    except csv.Error as e:
        raise InputError(name, f"unreadable CSV header: {e}", line=1) from None
    committed = len(lines.take())
    row = 0

    def bad(taken: list[str], why: str) -> RawRecord:
        nonlocal committed, row, rows
        lines.push_back(taken[1:])      # the lines after the first are read again as rows of their own
        rows = reader()
        row += 1
        committed += 1
        return RawRecord(row_number=row, line=committed, record=None, error=f"invalid CSV: {why}",
                         raw=taken[0].rstrip("\r\n") if taken else None)

    while True:
        try:
            fields = next(rows)
        except StopIteration:
            _count("physical_lines", committed)
            return
        except csv.Error as e:
            taken = lines.take()
            if not taken:
                _count("physical_lines", committed)
                return
            yield bad(taken, str(e))
            continue
        taken = lines.take()
        if not fields or (len(fields) == 1 and not fields[0].strip() and len(header) > 1):
            committed += len(taken)
            continue
        if len(fields) != len(header):
            why = f"row has {len(fields)} fields, header has {len(header)}"
            yield bad(taken, why + (" (a quote left open across lines)" if len(taken) > 1 else ""))
            continue
        if len(taken) > 1 and _merged_rows(taken, delimiter, len(header)):
            yield bad(taken, "unclosed quote: the field runs into the next rows")
            continue
        row += 1
        start = committed + 1
        committed += len(taken)
        yield RawRecord(row_number=row, line=start, record=dict(zip(header, fields)), error=None)


# -- Parquet -------------------------------------------------------------------------------------
def _json_safe(value: object) -> object:
    """Parquet values -> JSON-compatible Python (dates/decimals/bytes as strings)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(x, tuple) and len(x) == 2 for x in value):  # map type
            return {str(k): _json_safe(v) for k, v in value}
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return decode_bytes(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _read_parquet_file(f: IO[bytes], name: str) -> Iterator[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = 0
    try:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for rec in batch.to_pylist():
                row += 1
                yield RawRecord(row_number=row, line=None, record=_json_safe(rec), error=None)  # type: ignore[arg-type]
    except (pa.ArrowException, OSError) as e:
        raise InputError(name, f"unreadable Parquet after {row} rows: {e}") from None


def _read_parquet(stream: IO[bytes], name: str, options: ShapeOptions, seekable: IO[bytes] | None = None
                  ) -> Iterator[RawRecord]:
    if seekable is not None:
        yield from _read_parquet_file(seekable, name)
        return
    with tempfile.TemporaryFile(prefix="lakehouse-parquet-") as tmp:
        shutil.copyfileobj(stream, tmp, 1024 * 1024)
        tmp.seek(0)
        yield from _read_parquet_file(tmp, name)  # type: ignore[arg-type]


# -- plain text ----------------------------------------------------------------------------------
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+")
_NEWLINE = re.compile(r"\n\s*")
_SPACE = re.compile(r"\s+")


_LABEL_LINE = re.compile(r"\n(?=[ \t]*[*_\[]*[A-Za-z][^\n:]{0,32}:)")


def _last_speaker_line(window: str, role_map: Mapping[str, str] | None) -> int | None:
    from lakehouse.shapes.transcript import speaker_label

    if ":" not in window:
        return None
    best = None
    for m in _LABEL_LINE.finditer(window):
        line = window[m.end():window.find("\n", m.end()) if "\n" in window[m.end():] else len(window)]
        if speaker_label(line, role_map):
            best = m.end()
    return best


def _cut_point(buf: str, limit: int, role_map: Mapping[str, str] | None = None) -> int:
    """Where to end a chunk of at most ``limit`` chars: before a speaker line (transcripts) >
    paragraph > sentence > line > word > hard cut."""
    lo = limit // 2
    window = buf[lo:limit]
    at = _last_speaker_line(window, role_map)
    if at:
        return lo + at
    for pattern in (_PARAGRAPH, _SENTENCE, _NEWLINE, _SPACE):
        last = None
        for last in pattern.finditer(window):
            pass
        if last is not None:
            return lo + last.end()
    return limit


def iter_chunks(blocks: Iterable[str], chunk_chars: int, role_map: Mapping[str, str] | None = None
                ) -> Iterator[tuple[int, str]]:
    """(start line, chunk) over text arriving in ``blocks``; chunks are stripped, empty ones skipped."""
    buf = ""
    line = 1
    for block in blocks:
        buf += block
        while chunk_chars > 0 and len(buf) > chunk_chars:
            cut = _cut_point(buf, chunk_chars, role_map)
            piece, buf = buf[:cut], buf[cut:]
            stripped = piece.lstrip()
            if stripped.strip():
                yield line + piece[: len(piece) - len(stripped)].count("\n"), stripped.rstrip()
            line += piece.count("\n")
    stripped = buf.lstrip()
    if stripped.strip():
        yield line + buf[: len(buf) - len(stripped)].count("\n"), stripped.rstrip()


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """``text`` cut into chunks of at most ``chunk_chars`` on paragraph/sentence boundaries."""
    return [c for _, c in iter_chunks([text], chunk_chars)]


def _read_txt(stream: IO[bytes], name: str, options: ShapeOptions) -> Iterator[RawRecord]:
    text = _text(stream, newline=None)
    blocks = iter(lambda: text.read(TEXT_BLOCK_CHARS), "")
    for row, (line, chunk) in enumerate(iter_chunks(blocks, options.chunk_chars, options.role_map), start=1):
        yield RawRecord(row_number=row, line=line, record={"text": chunk}, error=None)


_READERS: dict[str, Callable[[IO[bytes], str, ShapeOptions], Iterator[RawRecord]]] = {
    "jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet, "txt": _read_txt,
}


# -- entry point ---------------------------------------------------------------------------------
def _seekable(raw: IO[bytes]) -> bool:
    try:
        return bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def iter_raw_records(open_stream: Callable[[], BinaryIO], name: str, file_format: str | None = None,
                     options: ShapeOptions = ShapeOptions(), stats: dict[str, int] | None = None) -> Iterator[RawRecord]:
    """Stream the records of one file. ``name`` (a path or key) is used for format detection and
    error messages; ``file_format`` overrides detection (gzip is still detected from the bytes).

    ``stats`` (a dict, filled as the records are read) counts ``invalid_utf8`` sequences decoded as
    cp1252, ``utf16`` (1 when the file was transcoded from UTF-16) and, for CSV, ``physical_lines``.
    """
    if file_format is not None and file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    return _with_stats(_iter_raw_records(open_stream, name, file_format, options), stats if stats is not None else {})


def _iter_raw_records(open_stream: Callable[[], BinaryIO], name: str, file_format: str | None,
                      options: ShapeOptions) -> Iterator[RawRecord]:
    raw = open_stream()
    try:
        head = _read_head(raw)
        fmt, gz = detect_file_format(name, head) if file_format is None else (
            file_format, head.startswith(GZIP_MAGIC))
        if fmt == "parquet" and not gz and _seekable(raw):
            raw.seek(0)
            yield from _read_parquet(raw, name, options, seekable=raw)
            return
        stream: IO[bytes] = io.BufferedReader(_Prefixed(head, raw), buffer_size=HEAD_BYTES)
        if gz:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        try:
            if fmt != "parquet":
                bom, stream = _peek(stream, 4)
                if _utf16_encoding(bom):
                    _count("utf16")
                    stream = _transcode_utf16(stream)
            yield from _READERS[fmt](stream, name, options)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise InputError(name, f"corrupt or truncated gzip: {e}") from None
    finally:
        raw.close()


def open_path(path: str | os.PathLike[str]) -> Callable[[], BinaryIO]:
    """An ``open_stream`` for a local file."""
    return lambda: open(path, "rb")


def read_path(path: str | os.PathLike[str], file_format: str | None = None,
              options: ShapeOptions = ShapeOptions()) -> Iterator[RawRecord]:
    """:func:`iter_raw_records` over a local file."""
    return iter_raw_records(open_path(path), os.fspath(path), file_format, options)
