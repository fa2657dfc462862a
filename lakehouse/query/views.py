"""Read-only DuckDB views over the lakehouse Delta tables and release manifests.

Every view reads the tables directly (``delta_scan`` / ``read_text`` on absolute local paths or
``s3://`` URIs), never a dbt UDF, so any DuckDB client with the httpfs and delta extensions (and
an S3 secret for an S3 root) can use them. A table that does not exist yet gives no view; the
hint of :func:`missing_hint` says what to run to create it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.storage import CATALOG_PREFIX, CURATED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, RELEASES_PREFIX, Storage, split_s3_uri

if TYPE_CHECKING:
    import duckdb

LAND_HINT = "land data first: `lakehouse land FILES --source NAME --family FAMILY --license TAG`"
BUILD_HINT = "build the release first: `dbt build --select release` (or `lakehouse build`)"
RAW_VIEW_PREFIX = "raw_"
# columns of quarantine/records that hold original text (or may echo it): only with --allow-raw
QUARANTINE_TEXT_COLUMNS = ("raw_record", "quarantine_reason")
# per view, the columns hidden without --allow-raw: text, and the landed file's own name (source_key),
# which can name a person (jane.doe@...jsonl); the curated tables carry its redacted form
RESTRICTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "quarantine": QUARANTINE_TEXT_COLUMNS + ("source_key",),
    "landings": ("source_key",),
}


@dataclass(frozen=True)
class DeltaView:
    """A view reading one Delta table under the root."""

    name: str
    key: str
    hint: str
    description: str


DELTA_VIEWS: tuple[DeltaView, ...] = (
    DeltaView("conversations", f"{CURATED_PREFIX}/conversations", BUILD_HINT,
              "one row per curated record (curated/conversations)"),
    DeltaView("quarantine", f"{QUARANTINE_PREFIX}/records", BUILD_HINT,
              "records not released, with the reason (quarantine/records; holds original text)"),
    DeltaView("coverage", f"{CURATED_PREFIX}/coverage", BUILD_HINT, "per-source landing and conversion report"),
    DeltaView("near_duplicate_removals", f"{CURATED_PREFIX}/near_duplicate_removals", BUILD_HINT,
              "why each near duplicate was removed: removed_id, kept_id, estimated jaccard"),
    DeltaView("landings", f"{CATALOG_PREFIX}/landings", LAND_HINT, "one row per landed file (catalog/landings)"),
    DeltaView("release_records", f"{CATALOG_PREFIX}/release_records", BUILD_HINT,
              "which record is in which release (catalog/release_records)"),
)

# views derived from other views (name -> (needs, hint, description))
DERIVED_VIEWS: dict[str, tuple[str, str, str]] = {
    "messages": ("conversations", BUILD_HINT, "one row per turn of every sft/preference record"),
    "releases": ("", BUILD_HINT, "one row per published release (exports/releases/<version>/manifest.json)"),
}


def known_views() -> dict[str, str]:
    """Every fixed view name -> the hint to give when it is missing."""
    out = {v.name: v.hint for v in DELTA_VIEWS}
    out.update({name: hint for name, (_, hint, _) in DERIVED_VIEWS.items()})
    return out


def missing_hint(name: str) -> str | None:
    """What to run when the view ``name`` does not exist (None for names that are not lakehouse views)."""
    lname = name.lower()
    if lname.startswith(RAW_VIEW_PREFIX):
        source = lname[len(RAW_VIEW_PREFIX):]
        return (f"no raw table raw/{source}: land it with `lakehouse land FILES --source {source} "
                f"--family FAMILY --license TAG`")
    hint = known_views().get(lname)
    return f"view {lname} is not available yet: {hint}" if hint else None


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def delta_exists(storage: Storage, key: str) -> bool:
    """True when ``key`` under the root holds a Delta table (a non-empty ``_delta_log/``)."""
    uri = storage.uri(key, "_delta_log")
    if storage.is_s3:
        bucket, prefix = split_s3_uri(uri)
        res = storage.s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/", MaxKeys=1)
        return int(res.get("KeyCount", 0)) > 0
    return os.path.isdir(uri) and any(n.endswith(".json") or n.endswith(".checkpoint.parquet") for n in os.listdir(uri))


def raw_sources(storage: Storage) -> list[str]:
    """Names of the sources with a raw/<source> Delta table."""
    return [s for s in storage.list_dirs(RAW_PREFIX) if not s.startswith(".") and delta_exists(storage, f"{RAW_PREFIX}/{s}")]


def has_releases(storage: Storage) -> bool:
    from lakehouse.export import list_releases

    return bool(list_releases(storage))


def delta_view_sql(storage: Storage, key: str) -> str:
    return f"select * from delta_scan({sql_str(storage.uri(key))})"


def releases_view_sql(storage: Storage) -> str:
    """One row per manifest; a glob, so releases published later appear without re-creating the view."""
    pattern = storage.uri(RELEASES_PREFIX, "*", "manifest.json")
    return f"""
select
    json_extract_string(content, '$.version') as version,
    try_cast(json_extract_string(content, '$.created_at') as timestamptz) as created_at,
    json_extract_string(content, '$.git_commit') as git_commit,
    json_extract_string(content, '$.package_version') as package_version,
    try_cast(json_extract(content, '$.seed') as bigint) as seed,
    try_cast(json_extract(content, '$.counts.records') as bigint) as records,
    coalesce(json_array_length(json_extract(content, '$.files')), 0)::bigint as files,
    coalesce(json_extract(content, '$.counts.by_split'), '{{}}')::varchar as by_split,
    coalesce(json_extract(content, '$.counts.by_family'), '{{}}')::varchar as by_family,
    coalesce(json_extract(content, '$.counts.by_kind'), '{{}}')::varchar as by_kind,
    regexp_replace(filename, '/manifest\\.json$', '') as uri
from read_text({sql_str(pattern)})
where not regexp_matches(filename, '/\\.[^/]*/manifest\\.json$')
"""


def _columns(con: "duckdb.DuckDBPyConnection", view: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"describe {ident(view)}").fetchall()}


def messages_view_sql(columns: dict[str, str]) -> str | None:
    """Turns of ``conversations``: sft messages, and preference prompt then chosen (``part`` says which)."""
    def has(c: str) -> bool:
        return c in columns and columns[c].upper().endswith("[]")

    keep = [c for c in ("record_id", "kind", "content_hash", "source_name", "source_family", "split",
                        "is_released") if c in columns]
    if "record_id" not in keep or not (has("messages") or (has("prompt") and has("chosen"))):
        return None
    empty = "[]::struct(role varchar, content varchar)[]"
    parts = []
    if has("messages"):
        parts.append(("coalesce(messages, " + empty + ")",
                      "list_transform(coalesce(messages, " + empty + "), x -> 'messages')",
                      "kind is distinct from 'preference'"))
    if has("prompt") and has("chosen"):
        turns = f"list_concat(coalesce(prompt, {empty}), coalesce(chosen, {empty}))"
        labels = (f"list_concat(list_transform(coalesce(prompt, {empty}), x -> 'prompt'), "
                  f"list_transform(coalesce(chosen, {empty}), x -> 'chosen'))")
        parts.append((turns, labels, "kind = 'preference'" if "kind" in columns else "true"))
    cols = ", ".join(keep)
    rest = "".join(", " + c for c in keep if c != "record_id")
    unions = "\n    union all\n    ".join(
        f"select {cols}, {turns} as turns, {labels} as parts from conversations where {where}"
        for turns, labels, where in parts)
    return f"""
with t as (
    {unions}
),
u as (
    select {cols}, unnest(range(len(turns))) as turn_index, unnest(parts) as part, unnest(turns) as m
    from t
    where len(turns) > 0
)
select record_id, turn_index::integer as turn_index, part, m.role as role, m.content as content{rest}
from u
"""


def create_views(con: "duckdb.DuckDBPyConnection", storage: Storage, *, allow_raw: bool = True,
                 materialize_restricted: bool = True) -> list[str]:
    """Create every view whose table exists (in the connection's default schema); returns the names, sorted.

    Without ``allow_raw`` there are no ``raw_*`` views and ``quarantine`` keeps its ids, reason codes,
    provenance and counts but not its text columns; with ``materialize_restricted`` it is then an
    in-memory table read once, so the sandbox never needs access to the ``quarantine/`` prefix.
    """
    kind = "view"
    created: list[str] = []
    for v in DELTA_VIEWS:
        if delta_exists(storage, v.key):
            sql = delta_view_sql(storage, v.key)
            what = kind
            if v.name in RESTRICTED_COLUMNS and not allow_raw:
                cols = [c for c in _scan_columns(con, sql) if c not in RESTRICTED_COLUMNS[v.name]]
                sql = f"select {', '.join(ident(c) for c in cols)} from ({sql})"
                # quarantine/ is outside the sandbox's directories: read once into memory
                what = "table" if materialize_restricted and v.name == "quarantine" else kind
            con.execute(f"create or replace {what} {ident(v.name)} as {sql}")
            created.append(v.name)
    if allow_raw:
        for source in raw_sources(storage):
            name = RAW_VIEW_PREFIX + source
            con.execute(f"create or replace {kind} {ident(name)} as {delta_view_sql(storage, f'{RAW_PREFIX}/{source}')}")
            created.append(name)
    if "conversations" in created:
        sql = messages_view_sql(_columns(con, "conversations"))
        if sql:
            con.execute(f"create or replace {kind} messages as {sql}")
            created.append("messages")
    if has_releases(storage):
        con.execute(f"create or replace {kind} releases as {releases_view_sql(storage)}")
        created.append("releases")
    return sorted(created)


def _scan_columns(con: "duckdb.DuckDBPyConnection", sql: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {sql}").fetchall()]


def describe_views(names: list[str]) -> dict[str, str]:
    """A one-line description of each view name (for ``.tables`` and docs)."""
    desc = {v.name: v.description for v in DELTA_VIEWS}
    desc.update({name: d for name, (_, _, d) in DERIVED_VIEWS.items()})
    return {n: desc.get(n, f"raw rows of source {n[len(RAW_VIEW_PREFIX):]} (raw/<source>; original text)"
                       if n.startswith(RAW_VIEW_PREFIX) else "") for n in names}
