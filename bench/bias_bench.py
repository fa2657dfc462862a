"""reports/bias.json: the exporter's cost before (re-scan of every released text) and after (grouped
per-record columns from the cached int_record_bias stage), plus the stage's own cost per core on a
first build. Records: the bundled samples (as tests/test_bias_report.py converts them) copied N times
with a copy number appended to each record's last turn, so every copy is new content.

Usage: python bench/bias_bench.py [N copies, default 4]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_bias_report import bundled_records  # noqa: E402

from lakehouse.engine.stages import bias_flags_batch  # noqa: E402
from lakehouse.export.publish import ReleaseInputs, _bias  # noqa: E402
from lakehouse.record import MESSAGES_TYPE  # noqa: E402
from lakehouse.storage import Storage  # noqa: E402


def copies(records: list[dict], n: int) -> list[dict]:
    out = []
    for c in range(n):
        for i, r in enumerate(records):
            rec = {k: r.get(k) for k in ("messages", "prompt", "chosen", "rejected", "text")}
            for col in ("messages", "chosen"):
                if rec[col]:
                    rec[col] = [*rec[col][:-1], {**rec[col][-1], "content": f"{rec[col][-1]['content']} ({c})"}]
            if rec["text"] is not None:
                rec["text"] = f"{rec['text']} ({c})"
            out.append({**rec, "record_id": f"r{c}:{i}", "family": r["metadata"]["family"], "split": r["metadata"]["split"]})
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    recs = copies(bundled_records(), n)
    cols = {c: pa.array([r[c] for r in recs], MESSAGES_TYPE) for c in ("messages", "prompt", "chosen", "rejected")}
    tbl = pa.table({"record_id": [r["record_id"] for r in recs], "family": [r["family"] for r in recs],
                    "split": [r["split"] for r in recs], "kind": ["sft"] * len(recs), **cols,
                    "text": pa.array([r["text"] for r in recs], pa.string())})
    bias_flags_batch(tbl.slice(0, 8).to_batches()[0])   # load the lexicons and the language model once
    t0 = time.time()
    feats = pa.Table.from_batches([bias_flags_batch(b) for b in tbl.to_batches(256)])
    stage_s = time.time() - t0
    with_feats = tbl
    for name in ("group_mentions", "stereotype_flags", "bias_score", "language"):
        with_feats = with_feats.append_column(name, feats.column(name))
    con = duckdb.connect()
    con.register("before_t", tbl)
    con.register("after_t", with_feats)
    storage = Storage.from_env("/tmp/bias-bench-root")
    timings = {}
    reports = {}
    for label, t in (("before (re-scan)", "before_t"), ("after (columns)", "after_t")):
        rel = con.table(t)
        t0 = time.time()
        reports[label] = _bias(storage, ReleaseInputs(release=rel, stages=rel, stats=rel))
        timings[label] = time.time() - t0
    same = json.dumps(reports["before (re-scan)"], sort_keys=True) == json.dumps(reports["after (columns)"], sort_keys=True)
    print(json.dumps({"records": len(recs), "stage_first_build_s": round(stage_s, 2),
                      "stage_records_per_s_per_core": round(len(recs) / stage_s),
                      **{f"export {k} s": round(v, 3) for k, v in timings.items()},
                      "export before records/s": round(len(recs) / timings["before (re-scan)"]),
                      "export after records/s": round(len(recs) / timings["after (columns)"]),
                      "reports identical": same}, indent=1))


if __name__ == "__main__":
    main()
