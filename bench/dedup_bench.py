"""Near-dedup benchmark: ``near_duplicate_clusters`` vs a plain datasketch loop on the same corpus.

    .venv/bin/python bench/dedup_bench.py                       # 100k conversations, full naive run
    .venv/bin/python bench/dedup_bench.py --n 20000 --naive-n 5000

Each method runs in a fresh child process on the same Arrow IPC file, so wall time, CPU time
(the process and its LSH workers) and peak RSS belong to that method alone; fast variants run
``--repeat`` times and the fastest run is reported (the naive loop runs once). The naive loop is:
per record ``MinHash()`` and ``m.update(shingle)`` for every shingle, ``lsh.insert``; then
``lsh.query`` for every record, ``MinHash.jaccard`` >= threshold, union-find. With
``--naive-n`` below ``--n`` it runs on the first records only and its throughput is
extrapolated (reported as such). Not a test: prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

_WORD = re.compile(r"[^\W_]+")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def write_input(path: Path, n: int, seed: int) -> dict:
    """Generate the corpus and store record_id/text/rank_key/truth_group as Arrow IPC."""
    import pyarrow as pa

    from lakehouse.dedup import conversation_text
    from lakehouse.synth import generate_corpus, truth_group

    t0 = time.perf_counter()
    ids, texts, keys, groups, kinds = [], [], [], [], []
    for rec in generate_corpus(n, seed):
        ids.append(rec["synthetic_id"])
        texts.append(conversation_text(rec["messages"]))
        keys.append(f"{rec['family']}|{rec['synthetic_id']}")
        groups.append(truth_group(rec))
        kinds.append(rec["planted"]["kind"])
    gen_s = time.perf_counter() - t0
    table = pa.table({"record_id": ids, "text": texts, "rank_key": keys, "group": groups, "kind": kinds})
    with pa.ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table, max_chunksize=8192)
    words = sum(len(t.split()) for t in texts)
    return {"generate_s": gen_s, "records": n, "mean_words": words / n, "text_mb": sum(map(len, texts)) / 1e6}


def _read(path: Path, limit: int | None):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    table = pa.ipc.open_file(str(path)).read_all()
    return table.slice(0, limit) if limit else table


def run_fast(path: Path, workers: int) -> dict:
    """Child: near_duplicate_clusters over streamed 8192-row batches."""
    import dataclasses

    from lakehouse.dedup import load_dedup_config, near_duplicate_clusters

    table = _read(path, None).select(["record_id", "text", "rank_key"])
    cfg = dataclasses.replace(load_dedup_config(), lsh_workers=workers)
    near_duplicate_clusters([table.slice(0, 50)], config=cfg)  # imports and caches, not measured
    base_rss, cpu0 = _rss_mb(), _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = near_duplicate_clusters(table.to_batches(max_chunksize=8192), config=cfg)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": _cpu(resource.RUSAGE_SELF) - cpu0 + _cpu(resource.RUSAGE_CHILDREN),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_rss_mb": base_rss,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "records": table.num_rows,
        "cluster_id": out["cluster_id"].to_pylist(),
        "record_id": out["record_id"].to_pylist(),
    }


def run_fast_tracemalloc(path: Path) -> dict:
    """Child: in-process run under tracemalloc (Python + numpy allocations), for peak heap only."""
    import dataclasses
    import tracemalloc

    from lakehouse.dedup import load_dedup_config, near_duplicate_clusters

    table = _read(path, None).select(["record_id", "text", "rank_key"])
    cfg = dataclasses.replace(load_dedup_config(), lsh_workers=0)
    tracemalloc.start()
    near_duplicate_clusters(table.to_batches(max_chunksize=8192), config=cfg)
    _, peak = tracemalloc.get_traced_memory()
    return {"tracemalloc_peak_mb": peak / 2**20}


def _naive_shingles(text: str, n: int) -> set[str]:
    toks = _WORD.findall(text.lower().replace("'", ""))
    if len(toks) < n:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def run_naive(path: Path, limit: int | None) -> dict:
    """Child: the plain datasketch loop."""
    from datasketch import MinHash, MinHashLSH

    from lakehouse.dedup import load_dedup_config
    from lakehouse.dedup.near import UnionFind

    cfg = load_dedup_config()
    table = _read(path, limit)
    ids = table["record_id"].to_pylist()
    texts = table["text"].to_pylist()
    keys = table["rank_key"].to_pylist()
    MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=cfg.lsh_weights)  # warm imports
    base_rss, cpu0 = _rss_mb(), _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=cfg.lsh_weights)
    sketches = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=cfg.num_perm, seed=1)
        for sh in _naive_shingles(text, cfg.ngram):
            m.update(sh.encode("utf-8"))
        sketches.append(m)
        lsh.insert(i, m)
    uf = UnionFind(len(texts))
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j != i and m.jaccard(sketches[j]) >= cfg.threshold:
                uf.union(i, j)
    members = defaultdict(list)
    for i in range(len(texts)):
        members[uf.find(i)].append(i)
    cluster = [""] * len(texts)
    for group in members.values():
        best = min(group, key=lambda k: (keys[k], ids[k]))
        for k in group:
            cluster[k] = ids[best]
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": _cpu(resource.RUSAGE_SELF) - cpu0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_rss_mb": base_rss,
        "worker_peak_rss_mb": 0.0,
        "records": len(texts),
        "cluster_id": cluster,
        "record_id": ids,
    }


def quality(path: Path, result: dict) -> dict:
    """Pairwise precision and planted-pair recall against the generator's truth."""
    table = _read(path, result["records"])
    group = dict(zip(table["record_id"].to_pylist(), table["group"].to_pylist()))
    cid = dict(zip(result["record_id"], result["cluster_id"]))
    truth = [(r, g) for r, g in group.items() if r != g and g in cid]
    recall = sum(cid[r] == cid[g] for r, g in truth) / max(1, len(truth))
    members = defaultdict(list)
    for rid, c in cid.items():
        members[c].append(rid)
    pairs = [p for m in members.values() for p in combinations(m, 2)]
    precision = sum(group[a] == group[b] for a, b in pairs) / max(1, len(pairs))
    removed = sum(1 for r, c in cid.items() if r != c)
    return {"precision": precision, "recall": recall, "removed": removed}


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--naive-n", type=int, default=None, help="records for the naive loop (default: all)")
    ap.add_argument("--workers", type=int, nargs="*", default=[2, 0], help="lsh_workers settings to run")
    ap.add_argument("--repeat", type=int, default=2, help="runs per fast variant, the fastest is reported")
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.child:
        kind, path = ns.child[0], Path(ns.child[1])
        if kind == "fast":
            res = run_fast(path, int(ns.child[2]))
        elif kind == "trace":
            res = run_fast_tracemalloc(path)
        else:
            res = run_naive(path, int(ns.child[2]) or None)
        print(json.dumps(res))
        return

    naive_n = min(ns.naive_n or ns.n, ns.n)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        path = Path(tmp) / "corpus.arrow"
        info = write_input(path, ns.n, ns.seed)
        print(f"corpus: {info['records']} records, {info['mean_words']:.0f} words/record, "
              f"{info['text_mb']:.0f} MB text, generated in {info['generate_s']:.1f} s", file=sys.stderr)
        rows = []
        for w in ns.workers:
            res = min((_child(["fast", str(path), str(w)]) for _ in range(ns.repeat)), key=lambda r: r["wall_s"])
            rows.append((f"near_duplicate_clusters (lsh_workers={w})", res, quality(path, res)))
            print(f"fast w={w}: {res['wall_s']:.1f} s", file=sys.stderr)
        naive = _child(["naive", str(path), str(naive_n)])
        rows.append((f"naive datasketch loop ({naive_n} records)", naive, quality(path, naive)))
        print(f"naive: {naive['wall_s']:.1f} s", file=sys.stderr)
        trace = None if ns.no_tracemalloc else _child(["trace", str(path)])

    naive_rate = naive["records"] / naive["wall_s"]
    print(f"\nMachine: {os.cpu_count()} cores, load average {load_start:.1f} -> {os.getloadavg()[0]:.1f} (start -> end), "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{info['records']} conversations (seed {ns.seed}, {info['mean_words']:.0f} non-system words each)\n")
    print("| method | records | wall s | conv/s | CPU s | peak RSS main (Δ) MB | peak RSS worker MB | "
          "precision | recall | removed | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, res, q in rows:
        rate = res["records"] / res["wall_s"]
        print(f"| {name} | {res['records']} | {res['wall_s']:.1f} | {rate:,.0f} | {res['cpu_s']:.1f} | "
              f"{res['peak_rss_mb']:.0f} ({res['peak_rss_mb'] - res['base_rss_mb']:+.0f}) | "
              f"{res['worker_peak_rss_mb']:.0f} | {q['precision']:.4f} | {q['recall']:.4f} | {q['removed']} | "
              f"{rate / naive_rate:.1f}x |")
    if naive["records"] < info["records"]:
        print(f"\nNaive loop ran on the first {naive['records']} records; its {info['records']}-record time is "
              f"extrapolated linearly: {info['records'] / naive_rate:.0f} s.")
    if trace:
        print(f"\ntracemalloc peak of an in-process run (Python + numpy heap): {trace['tracemalloc_peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
