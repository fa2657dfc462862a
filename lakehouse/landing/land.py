"""Land raw files as Delta tables ``raw/<source>`` with provenance, one atomic commit per file.

A file is read once to hash it (idempotence: a file already in ``raw/<source>`` adds no rows),
then streamed through the shape readers into a single Delta append. A file that cannot be read
commits nothing; a row that cannot be parsed lands with ``parse_error`` set and is quarantined
by the dbt pipeline, unless ``strict`` asks to refuse the whole file.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

import orjson

from lakehouse import __version__
from lakehouse.faults import kill_point
from lakehouse.landing.schema import LANDINGS_SCHEMA, RAW_SCHEMA
from lakehouse.storage import CATALOG_PREFIX, RAW_PREFIX, Storage, split_s3_uri

log = logging.getLogger(__name__)

# files taken when a folder or prefix is landed (named files are always taken)
DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".txt", ".gz")
SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")
DETECT_SAMPLE = 50
BATCH_ROWS = 2000
BATCH_BYTES = 32 * 1024 * 1024


class LandingError(Exception):
    """A file was refused; the message names the file (and line) and the reason."""


@dataclass
class InputFile:
    uri: str          # local absolute path or s3://bucket/key
    name: str         # base name, used for format detection
    key: str = ""     # source_key: the S3 key, or the path below the landed folder (never a host path)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.name


@dataclass
class FileReport:
    source_key: str                 # relative: what the release and the catalog record
    status: str                     # landed | skipped (already landed) | failed
    rows: int = 0
    parse_errors: int = 0
    shape: str | None = None
    shape_reason: str | None = None
    input_format: str | None = None
    file_sha256: str | None = None
    error: str | None = None
    coverage: "Coverage | None" = None


@dataclass
class Coverage:
    """What the build will make of a file's rows (the same converters, run while landing)."""

    converted: dict[str, int] = field(default_factory=dict)     # by kind
    quarantined: dict[str, int] = field(default_factory=dict)   # by reason code
    repairs: dict[str, int] = field(default_factory=dict)
    grouped_rows: int = 0                                        # utterance rows: grouped at build time

    def add(self, converted: list, parse_error: str | None, input_format: str | None = None) -> None:
        if parse_error is not None:
            code = parse_error_code(input_format)
            self.quarantined[code] = self.quarantined.get(code, 0) + 1
            return
        for c in converted:
            if c.quarantine_reason:
                code = reason_code(c.quarantine_reason)
                self.quarantined[code] = self.quarantined.get(code, 0) + 1
            else:
                self.converted[c.kind] = self.converted.get(c.kind, 0) + 1
            for k, v in (c.repairs or {}).items():
                if v:
                    self.repairs[k] = self.repairs.get(k, 0) + int(v)


def parse_error_code(input_format: str | None) -> str:
    """Quarantine reason of an unparseable row, named after its format (same rule as the staging model)."""
    return "invalid_csv" if input_format == "csv" else "invalid_json"


def reason_code(reason: str) -> str:
    """Grouping code of a quarantine reason (same rule as models/.../int_records_quarantined.sql)."""
    if reason.startswith("unknown role"):
        return "unknown_role"
    if reason.startswith("missing_field"):
        return "missing_field"
    return re.sub(r"[^a-z_:]", "", reason.split(" ", 1)[0])


@dataclass
class LandingReport:
    landing_id: str
    source_name: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files if f.status == "landed")


# -- inputs ---------------------------------------------------------------------------
def expand_inputs(inputs: Iterable[str], storage: Storage) -> list[InputFile]:
    """Files named by paths, folders (recursively), globs or s3:// URIs/prefixes, in a stable order."""
    out: list[InputFile] = []
    for item in inputs:
        if item.startswith("s3://"):
            bucket, key = split_s3_uri(item)
            pattern = None
            if any(c in key for c in "*?["):
                pattern, key = key, key.split("*")[0].rsplit("/", 1)[0]
            found = []
            paginator = storage.s3.get_paginator("list_objects_v2")
            try:
                storage.s3.head_object(Bucket=bucket, Key=key)
                found = [key] if pattern is None else []
            except Exception:
                found = []
            if not found:
                prefix = key.rstrip("/") + "/" if key else ""
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                    for obj in page.get("Contents", []):
                        k = obj["Key"]
                        if k.endswith("/"):
                            continue
                        if pattern is None and not k.lower().endswith(DATA_SUFFIXES):
                            continue
                        if pattern is None or fnmatch.fnmatch(k, pattern):
                            found.append(k)
            if not found:
                raise LandingError(f"{item}: file not found")
            out.extend(InputFile(f"s3://{bucket}/{k}", k.rsplit("/", 1)[-1], k) for k in sorted(found))
            continue
        p = Path(item).expanduser()
        if any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise LandingError(f"{item}: no file matches")
            base = _glob_base(str(p))
            out.extend(InputFile(str(f.resolve()), f.name, _below(f, base)) for f in files)
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                           and f.name.lower().endswith(DATA_SUFFIXES))
            if not files:
                raise LandingError(f"{item}: folder holds no data files ({', '.join(DATA_SUFFIXES)})")
            out.extend(InputFile(str(f.resolve()), f.name, _below(f, p)) for f in files)
        elif p.is_file():
            out.append(InputFile(str(p.resolve()), p.name, p.name))
        else:
            raise LandingError(f"{item}: file not found")
    return out


def _glob_base(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard."""
    parts = Path(pattern).parts
    keep = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        keep.append(part)
    return Path(*keep) if keep else Path(".")


def _below(f: Path, base: Path) -> str:
    """``f`` relative to the landed folder ``base``, '/'-separated (the file name if it is not below)."""
    try:
        return f.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return f.name


def relative_source_key(source_key: str) -> str:
    """The relative form of a source_key recorded by older versions (an absolute host path or an
    s3:// URI): the S3 key, or the file name. Relative keys are returned unchanged. The staging model
    (macros/raw_union.sql) applies the same rule, so existing lakehouses get relative keys on their
    next build without re-landing."""
    if source_key.startswith("s3://"):
        return source_key[len("s3://"):].partition("/")[2] or source_key
    if source_key.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", source_key) or source_key.startswith("\\\\"):
        return re.split(r"[\\/]", source_key.rstrip("/\\"))[-1]
    return source_key


def _opener(storage: Storage, uri: str) -> Callable[[], IO[bytes]]:
    return lambda: storage.open_read(uri)


def file_sha256(open_stream: Callable[[], IO[bytes]], head_bytes: int = 4096) -> tuple[str, int, bytes]:
    """(sha256, size, first bytes) in one streamed pass: the head serves file-format detection."""
    h = hashlib.sha256()
    n = 0
    head = b""
    with open_stream() as f:
        while chunk := f.read(4 * 1024 * 1024):
            if n < head_bytes:
                head += chunk[: head_bytes - n]
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n, head


# -- delta helpers --------------------------------------------------------------------
def raw_table_uri(storage: Storage, source: str) -> str:
    return storage.uri(RAW_PREFIX, source)


def landings_table_uri(storage: Storage) -> str:
    return storage.uri(CATALOG_PREFIX, "landings")


def landed_state(storage: Storage, table_uri: str, sha256: str | None = None) -> tuple[bool, bool]:
    """(the table exists, a file with this sha256 is already in it), from one load of the log."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError
    import pyarrow.dataset as ds

    try:
        dt = DeltaTable(table_uri, storage_options=storage.delta_storage_options())
    except TableNotFoundError:
        return False, False
    if sha256 is None:
        return True, False
    return True, dt.to_pyarrow_dataset().count_rows(filter=ds.field("file_sha256") == sha256) > 0


# -- landing --------------------------------------------------------------------------
def validate_source_name(source: str) -> None:
    if not SOURCE_NAME_RE.match(source):
        raise LandingError(f"invalid source name {source!r}: use lowercase letters, digits and '_' (e.g. counsel_chat)")


def land(
    inputs: Iterable[str],
    *,
    source: str,
    family: str,
    license_tag: str | None = None,
    shape: str = "auto",
    file_format: str | None = None,
    options: "object | None" = None,
    edge_case: bool = False,
    strict: bool = False,
    storage: Storage | None = None,
    progress: bool = False,
) -> LandingReport:
    """Land every input file into ``raw/<source>``; returns per-file outcomes (never raises per file)."""
    from lakehouse import shapes

    validate_source_name(source)
    if not family or not SOURCE_NAME_RE.match(family):
        raise LandingError(f"invalid family {family!r}: use lowercase letters, digits and '_'")
    if shape != "auto" and shape not in shapes.SHAPES:
        raise LandingError(f"unknown --format {shape!r}: choose auto or one of {', '.join(shapes.SHAPES)}")
    if file_format is not None and file_format not in shapes.FILE_FORMATS:
        raise LandingError(f"unknown --file-format {file_format!r}: choose one of {', '.join(shapes.FILE_FORMATS)}")
    storage = storage or Storage.from_env()
    storage.ensure_root()
    opts = options if options is not None else shapes.ShapeOptions()
    files = expand_inputs(inputs, storage)
    report = LandingReport(landing_id=uuid.uuid4().hex, source_name=source)
    landed_at = datetime.now(timezone.utc)
    table_uri = raw_table_uri(storage, source)
    repair_catalog(storage, source)   # a landing interrupted between its two commits is completed first

    bar = _Progress(progress, len(files))
    with bar:
        for f in files:
            bar.start_file(f.name)
            try:
                fr = _land_one(f, storage=storage, table_uri=table_uri, source=source, family=family,
                               license_tag=license_tag, shape=shape, file_format=file_format, options=opts,
                               edge_case=edge_case, strict=strict, landing_id=report.landing_id,
                               landed_at=landed_at, on_rows=bar.add_rows,
                               on_bytes=bar.add_bytes if bar.enabled else None)
            except (LandingError, shapes.InputError) as e:
                fr = FileReport(source_key=f.key, status="failed", error=str(e))
            except Exception as e:  # a library error: still one line, naming the file
                first = (str(e).strip().splitlines() or [""])[0]
                fr = FileReport(source_key=f.key, status="failed", error=f"{f.uri}: {type(e).__name__}: {first}")
            report.files.append(fr)
            log.info("landing %s file_sha256=%s status=%s rows=%d parse_errors=%d", report.landing_id,
                     (fr.file_sha256 or "")[:12], fr.status, fr.rows, fr.parse_errors)
            bar.end_file()
    return report


def _land_one(f: InputFile, *, storage: Storage, table_uri: str, source: str, family: str,
              license_tag: str | None, shape: str, file_format: str | None, options: object,
              edge_case: bool, strict: bool, landing_id: str, landed_at: datetime,
              on_rows: Callable[[int], None],
              on_bytes: Callable[[int, int], None] | None = None) -> FileReport:
    import pyarrow as pa
    from deltalake import CommitProperties, write_deltalake

    from lakehouse import shapes

    open_stream = _opener(storage, f.uri)
    try:
        sha, nbytes, head = file_sha256(open_stream)
    except FileNotFoundError as e:
        raise LandingError(f"{f.uri}: file not found") from e
    fr = FileReport(source_key=f.key, status="landed", file_sha256=sha)
    if nbytes == 0:
        raise LandingError(f"{f.uri}: empty file (0 bytes)")
    table_existed, landed = landed_state(storage, table_uri, sha)
    if landed:
        fr.status = "skipped"
        return fr

    fmt, _gz = shapes.detect_file_format(f.name, head) if file_format is None else (file_format, False)
    fr.input_format = fmt
    if on_bytes is not None:   # progress: bytes of this file read by the parse pass, with ETA
        on_bytes(0, nbytes)
        open_stream = _counting_opener(open_stream, lambda n: on_bytes(n, nbytes))
    read_stats: dict[str, int] = {}
    records = shapes.iter_raw_records(open_stream, f.uri, fmt, options, stats=read_stats)
    sample: list = []
    for rec in records:
        sample.append(rec)
        if len(sample) >= DETECT_SAMPLE:
            break
    if not sample:
        raise LandingError(f"{f.uri}: empty file (no records)")
    good = [r.record for r in sample if r.record is not None]
    if shape == "auto":
        if not good:
            raise LandingError(f"{f.uri}: no readable record in the first {len(sample)} (first error: {sample[0].error})")
        decision = shapes.detect_shape(good, options, fmt)
    else:
        decision = shapes.ShapeDecision(shape=shape, options=options, reason="forced with --format")  # type: ignore[call-arg]
    fr.shape, fr.shape_reason = decision.shape, decision.reason
    options_json = decision.options.to_json()

    counters = {"rows": 0, "errors": 0}
    coverage = Coverage()
    preview = decision.shape != "utterance_rows"

    def batches() -> Iterator[pa.RecordBatch]:
        cols: dict[str, list] = {n: [] for n in RAW_SCHEMA.names}
        size = 0
        for rec in chain(sample, records):
            if rec.error is not None and strict:
                where = f":{rec.line}" if rec.line else f" record {rec.row_number}"
                raise LandingError(f"{f.uri}{where}: {rec.error}")
            counters["rows"] += 1
            if rec.error is not None:
                counters["errors"] += 1
            # an unparseable row keeps its original text (quarantine shows it as raw_record)
            text = orjson.dumps(rec.record).decode() if rec.record is not None else rec.raw
            if not preview and rec.record is not None:
                coverage.grouped_rows += 1
            elif rec.record is None:
                coverage.add([], rec.error or "unparseable", fmt)
            else:
                try:
                    coverage.add(shapes.convert(rec.record, decision.shape, decision.options), None)
                except Exception as e:  # the build quarantines it the same way
                    coverage.quarantined[f"converter_error: {type(e).__name__}"] = coverage.quarantined.get(
                        f"converter_error: {type(e).__name__}", 0) + 1
            cols["row_number"].append(rec.row_number)
            cols["line_number"].append(rec.line)
            cols["record"].append(text)
            cols["parse_error"].append(rec.error)
            size += len(text or "")
            if len(cols["row_number"]) >= BATCH_ROWS or size >= BATCH_BYTES:
                yield _batch(cols)
                on_rows(len(cols["row_number"]))
                cols = {n: [] for n in RAW_SCHEMA.names}
                size = 0
        if cols["row_number"]:
            yield _batch(cols)
            on_rows(len(cols["row_number"]))

    constants = {
        "landing_id": landing_id, "landed_at": landed_at, "source_name": source, "source_family": family,
        "license_tag": license_tag, "source_key": f.key, "file_sha256": sha, "file_bytes": nbytes,
        "input_format": fmt, "shape": decision.shape, "shape_options": options_json, "is_edge_case": edge_case,
    }

    def _batch(cols: dict[str, list]) -> pa.RecordBatch:
        n = len(cols["row_number"])
        arrays = []
        for fld in RAW_SCHEMA:
            if fld.name in constants:
                arrays.append(pa.array([constants[fld.name]] * n, type=fld.type))
            else:
                arrays.append(pa.array(cols[fld.name], type=fld.type))
        return pa.RecordBatch.from_arrays(arrays, schema=RAW_SCHEMA)

    reader = pa.RecordBatchReader.from_batches(RAW_SCHEMA, batches())
    try:
        write_deltalake(table_uri, reader, mode="append", storage_options=storage.delta_storage_options(),
                        commit_properties=CommitProperties(custom_metadata={
                            "lakehouse.landing_id": landing_id, "lakehouse.file_sha256": sha,
                            "lakehouse.host": _HOST, "lakehouse.pid": str(os.getpid())}))
    except BaseException as e:
        if not table_existed:
            _remove_uncommitted_table(storage, table_uri)
        if isinstance(e, (LandingError, shapes.InputError)) or not isinstance(e, Exception):
            raise
        cause = e.__cause__ or e.__context__
        while cause is not None:
            if isinstance(cause, (LandingError, shapes.InputError)):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise
    fr.rows, fr.parse_errors = counters["rows"], counters["errors"]
    for k in ("invalid_utf8", "utf16"):
        if read_stats.get(k):
            coverage.repairs[k] = coverage.repairs.get(k, 0) + read_stats[k]
    fr.coverage = coverage
    kill_point("landing.after_raw_commit")
    _append_catalog(storage, constants, fr, decision.reason, table_uri,
                    {k: read_stats[k] for k in ("invalid_utf8", "utf16") if read_stats.get(k)})
    return fr


def _remove_uncommitted_table(storage: Storage, table_uri: str) -> None:
    """A first write that failed leaves data files without a log: remove them, unless another
    landing created the table meanwhile (checked again: the earlier answer may be stale)."""
    if not landed_state(storage, table_uri)[0]:
        storage.delete_prefix(table_uri)


def _append_catalog(storage: Storage, c: dict, fr: FileReport, reason: str | None, table_uri: str,
                    repairs: dict[str, int] | None = None) -> None:
    import pyarrow as pa

    row = {
        "landing_id": c["landing_id"], "landed_at": c["landed_at"], "source_name": c["source_name"],
        "source_family": c["source_family"], "license_tag": c["license_tag"], "source_key": c["source_key"],
        "file_sha256": c["file_sha256"], "file_bytes": c["file_bytes"], "rows_read": fr.rows,
        "parse_errors": fr.parse_errors, "input_format": c["input_format"], "shape": c["shape"],
        "shape_reason": reason, "shape_options": c["shape_options"], "is_edge_case": c["is_edge_case"],
        "table_uri": table_uri, "package_version": __version__,
        "repairs": orjson.dumps(repairs or {}, option=orjson.OPT_SORT_KEYS).decode(),
    }
    _write_catalog_rows(storage, pa.Table.from_pylist([row], schema=LANDINGS_SCHEMA))


_HOST = socket.gethostname()
IN_PROGRESS_MAX_SECONDS = 6 * 3600   # a landing of another host is taken for dead after this long


def _landings_in_progress(table_uri: str, storage: Storage, shas: set[str]) -> set[str]:
    """The file_sha256s among ``shas`` whose raw commit was made by a process that is still alive
    (same host), or by another host less than IN_PROGRESS_MAX_SECONDS ago (per the commit's metadata)."""
    import time

    from deltalake import DeltaTable

    out: set[str] = set()
    for info in DeltaTable(table_uri, storage_options=storage.delta_storage_options()).history():
        sha = info.get("lakehouse.file_sha256")
        if sha not in shas or not info.get("lakehouse.pid"):
            continue
        if info.get("lakehouse.host") == _HOST:
            if _pid_alive(int(info["lakehouse.pid"])) and int(info["lakehouse.pid"]) != os.getpid():
                out.add(sha)
        elif time.time() - int(info.get("timestamp", 0)) / 1000 < IN_PROGRESS_MAX_SECONDS:
            out.add(sha)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _write_catalog_rows(storage: Storage, table: "object") -> None:
    from deltalake import write_deltalake

    # schema_mode="merge": catalogs written before a column was added gain it (older rows: null)
    write_deltalake(landings_table_uri(storage), table, mode="append", schema_mode="merge",
                    storage_options=storage.delta_storage_options())


RECOVERED_REASON = "recovered from raw/<source> after a landing interrupted before its catalog commit"


def repair_catalog(storage: Storage, source: str) -> int:
    """Add the catalog/landings rows missing for files committed to ``raw/<source>`` (a landing killed
    between its raw commit and its catalog commit), derived from the raw rows. Returns rows added.

    The catalog is secondary: every field of a landing row is in the raw rows of that file except
    the detection reason (set to :data:`RECOVERED_REASON`) and the read repairs (unknown: null).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    opts = storage.delta_storage_options()
    try:
        raw = DeltaTable(raw_table_uri(storage, source), storage_options=opts).to_pyarrow_dataset()
    except TableNotFoundError:
        return 0
    in_raw = set(raw.to_table(columns=["file_sha256"]).column("file_sha256").unique().to_pylist())
    try:
        cat = DeltaTable(landings_table_uri(storage), storage_options=opts).to_pyarrow_dataset()
        in_catalog = set(cat.to_table(columns=["file_sha256"], filter=ds.field("source_name") == source)
                         .column("file_sha256").to_pylist())
    except TableNotFoundError:
        in_catalog = set()
    missing = sorted(in_raw - in_catalog)
    if missing:   # a landing still running (another process) writes its own row: leave it alone
        running = _landings_in_progress(raw_table_uri(storage, source), storage, set(missing))
        missing = [m for m in missing if m not in running]
    if not missing:
        return 0
    cols = ["landing_id", "landed_at", "source_name", "source_family", "license_tag", "source_key", "file_sha256",
            "file_bytes", "input_format", "shape", "shape_options", "is_edge_case", "parse_error"]
    t = raw.to_table(columns=cols, filter=ds.field("file_sha256").isin(missing))
    rows = []
    for sha in missing:
        part = t.filter(pc.equal(t["file_sha256"], sha))
        first = part.slice(0, 1).to_pylist()[0]
        first.pop("parse_error")
        rows.append({**first, "rows_read": part.num_rows, "parse_errors": part.num_rows - part["parse_error"].null_count,
                     "shape_reason": RECOVERED_REASON, "table_uri": raw_table_uri(storage, source),
                     "package_version": __version__, "repairs": None})
    _write_catalog_rows(storage, pa.Table.from_pylist(rows, schema=LANDINGS_SCHEMA))
    log.warning("catalog/landings: %d landing row(s) of raw/%s recovered (file_sha256 %s)", len(rows), source,
                ", ".join(m[:12] for m in missing))
    return len(rows)


class _CountingReader:
    """A read-only file proxy that reports how many bytes were read (landing progress)."""

    def __init__(self, f: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._f, self._on_read = f, on_read

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self._on_read(len(data))
        return data

    def read1(self, n: int = -1) -> bytes:
        data = self._f.read1(n) if hasattr(self._f, "read1") else self._f.read(n)  # type: ignore[attr-defined]
        if data:
            self._on_read(len(data))
        return data

    def readinto(self, buf: "bytearray | memoryview") -> int:
        n = self._f.readinto(buf)  # type: ignore[attr-defined]
        if n:
            self._on_read(n)
        return n or 0

    def readline(self, n: int = -1) -> bytes:
        data = self._f.readline(n)
        if data:
            self._on_read(len(data))
        return data

    def __iter__(self) -> "_CountingReader":
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)

    def __enter__(self) -> "_CountingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


def _counting_opener(open_stream: Callable[[], IO[bytes]], on_read: Callable[[int], None]) -> Callable[[], IO[bytes]]:
    return lambda: _CountingReader(open_stream(), on_read)  # type: ignore[return-value]


class _Progress:
    """Progress on stderr (rich), silent when disabled: files and rows, and the bytes of the file being
    parsed with rate and ETA (one big file moves too)."""

    def __init__(self, enabled: bool, n_files: int) -> None:
        self.enabled = enabled
        self.n_files = n_files
        self._p = None
        self._done = 0
        self._total = 0

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False,
                               console=Console(stderr=True))
            self._p.__enter__()
            self._files = self._p.add_task("files", total=self.n_files, rows=0, detail=f"0/{self.n_files} files, 0 rows")
            self._bytes = self._p.add_task("bytes", total=None, detail="")
        return self

    def start_file(self, name: str) -> None:
        if self._p:
            self._p.update(self._files, description=f"landing {name[:40]}")
            self._p.reset(self._bytes, total=None, detail="", description="  bytes")

    def add_rows(self, n: int) -> None:
        if self._p:
            t = self._p.tasks[self._files]
            rows = t.fields["rows"] + n
            self._p.update(self._files, rows=rows, detail=f"{int(t.completed)}/{self.n_files} files, {rows} rows")

    def add_bytes(self, n: int, total: int) -> None:
        """``n`` more bytes of a ``total``-byte file parsed (``n == 0`` starts the file)."""
        if self._p:
            from rich.filesize import decimal

            self._done = 0 if n == 0 else min(self._done + n, total)
            self._total = total
            self._p.update(self._bytes, total=total, completed=self._done,
                           detail=f"{decimal(self._done)} of {decimal(total)}")

    def end_file(self) -> None:
        if self._p:
            self._p.advance(self._files)
            t = self._p.tasks[self._files]
            self._p.update(self._files, detail=f"{int(t.completed)}/{self.n_files} files, {t.fields['rows']} rows")

    def __exit__(self, *exc: object) -> None:
        if self._p:
            self._p.__exit__(None, None, None)
