"""Exporter cost by part (JSONL shards + compiled, Parquet, card, HTML report) on a release scaled up
from a built lakehouse's marts: N copies of release_conversations with new content hashes (50 copies
per shard). Usage: python bench/export_bench.py <dbt lakehouse.duckdb of a build> <N>
"""
import sys, time, os, duckdb, shutil, json

src, n = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute(f"attach '{src}' as s (read_only)")
for t in ("conversations", "quarantine", "coverage", "curriculum_stages", "release_stats", "near_duplicate_removals", "dataset_registry"):
    con.execute(f"create table {t} as select * from s.{t}")
con.execute(f"""create table release_conversations as
  select * replace (r.record_id || '#' || i as record_id, sha256(r.content_hash || i) as content_hash,
                    replace(shard_key, 'part-00000', 'part-' || lpad((i // 50)::varchar, 5, '0')) as shard_key,
                    replace(json_line, r.content_hash, sha256(r.content_hash || i)) as json_line)
  from s.release_conversations r, range({n}) t(i)""")
print("records", con.execute("select count(*) from release_conversations").fetchone()[0])
from lakehouse.export import publish as P
from lakehouse.export.publish import ReleaseInputs, publish_release
from lakehouse.storage import Storage
from lakehouse.config import Settings
timings = {}
def timed(name, fn):
    def w(*a, **k):
        t = time.time(); r = fn(*a, **k); timings[name] = timings.get(name, 0) + time.time() - t; return r
    return w
P._write_shards = timed("jsonl shards+compiled", P._write_shards)
P._write_parquet = timed("parquet", P._write_parquet)
P.render_report = timed("report", P.render_report)
P._card = timed("card", P._card)
t = con.table
root = os.environ.get("BENCH_ROOT", "/tmp/bench-root"); shutil.rmtree(root, ignore_errors=True)
t0 = time.time()
publish_release(Storage(Settings(root=root)), ReleaseInputs(release=t("release_conversations"), conversations=t("conversations"),
    quarantine=t("quarantine"), coverage=t("coverage"), stages=t("curriculum_stages"), stats=t("release_stats"),
    near_removals=t("near_duplicate_removals"), registry=t("dataset_registry"), gates=["coverage"]), version="v-bench")
timings["total publish"] = time.time() - t0
print(json.dumps({k: round(v, 1) for k, v in timings.items()}))
