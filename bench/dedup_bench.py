"""Near-dedup benchmark: ``near_duplicate_clusters`` at 100k and 1M conversations, vs a plain datasketch loop.

    .venv/bin/python bench/dedup_bench.py                       # 100k + 1M, naive loop on all 100k
    .venv/bin/python bench/dedup_bench.py --n 20000 --naive-n 5000 --repeat 1       # quick look
    .venv/bin/python bench/dedup_bench.py --n 100000 --compare-src /tmp/old        # before/after

One corpus of ``max(--n)`` conversations is generated (``lakehouse.synth.generate_corpus`` is
deterministic and a smaller run is a prefix of a larger one); each size gets its own Arrow IPC
file of the first records. Each method runs in a fresh child process on that file, so wall time,
CPU time and peak RSS belong to that method alone; ``near_duplicate_clusters`` runs ``--repeat``
times per size and the fastest run is reported (the naive loop runs once, at the smallest size).
``--compare-src DIR`` also runs the ``near_duplicate_clusters`` of another source tree (e.g.
``git archive`` of an older commit unpacked in DIR) at the smallest size. The naive loop is:
per record ``MinHash()`` and ``m.update(shingle)`` for every shingle, ``lsh.insert``; then
``lsh.query`` for every record, ``MinHash.jaccard`` >= threshold, union-find. With
``--naive-n`` below the smallest size it runs on the first records only and its throughput is
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


def _rss_mb(field: str = "VmRSS") -> float:
    """Current (``VmRSS``) or peak (``VmHWM``) resident memory of this process image, MB.

    Peak RSS comes from ``VmHWM``, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``exec``,
    so a child started by a parent holding a large corpus would report the parent's RSS.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def write_inputs(folder: Path, sizes: list[int], seed: int) -> dict[int, dict]:
    """Generate ``max(sizes)`` conversations once; store the first ``n`` of them per size as Arrow IPC.

    Columns: record_id, text, rank_key, group (planted truth), kind. Returns per size its path,
    mean words per record and text MB, and the generation time of the whole corpus. Files already
    in ``folder`` for this seed and size (``--data-dir``) are reused.
    """
    from itertools import accumulate

    sidecar = folder / f"corpus-{seed}.json"
    if sidecar.exists():
        known = {int(k): dict(v, path=Path(v["path"])) for k, v in json.loads(sidecar.read_text()).items()}
        if all(n in known and known[n]["path"].exists() for n in sizes):
            return {n: known[n] for n in sizes}

    import pyarrow as pa

    from lakehouse.dedup import conversation_text
    from lakehouse.synth import generate_corpus, truth_group

    t0 = time.perf_counter()
    ids, texts, keys, groups, kinds = [], [], [], [], []
    for rec in generate_corpus(max(sizes), seed):
        ids.append(rec["synthetic_id"])
        texts.append(conversation_text(rec["messages"]))
        keys.append(f"{rec['family']}|{rec['synthetic_id']}")
        groups.append(truth_group(rec))
        kinds.append(rec["planted"]["kind"])
    gen_s = time.perf_counter() - t0
    words = list(accumulate(len(t.split()) for t in texts))
    chars = list(accumulate(len(t) for t in texts))
    table = pa.table({"record_id": ids, "text": texts, "rank_key": keys, "group": groups, "kind": kinds})
    del ids, texts, keys, groups, kinds
    info = {}
    for n in sorted(set(sizes)):
        path = folder / f"corpus-{seed}-{n}.arrow"
        with pa.ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table.slice(0, n), max_chunksize=8192)
        info[n] = {"path": path, "generate_s": gen_s, "records": n, "mean_words": words[n - 1] / n,
                   "text_mb": chars[n - 1] / 1e6}
    sidecar.write_text(json.dumps({n: dict(v, path=str(v["path"])) for n, v in info.items()}))
    return info


def _read(path: Path, limit: int | None):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    table = pa.ipc.open_file(str(path)).read_all()
    return table.slice(0, limit) if limit else table


def run_fast(path: Path) -> dict:
    """Child: near_duplicate_clusters (of whatever ``lakehouse`` is importable) over streamed 8192-row batches."""
    import lakehouse.dedup.near as near
    from lakehouse.dedup import load_dedup_config, near_duplicate_clusters

    table = _read(path, None).select(["record_id", "text", "rank_key"])
    cfg = load_dedup_config()
    near_duplicate_clusters([table.slice(0, 50)], config=cfg)  # imports and caches, not measured
    base_rss, cpu0 = _rss_mb(), _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = near_duplicate_clusters(table.to_batches(max_chunksize=8192), config=cfg)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": _cpu(resource.RUSAGE_SELF) - cpu0 + _cpu(resource.RUSAGE_CHILDREN),
        "peak_rss_mb": _rss_mb("VmHWM"),
        "base_rss_mb": base_rss,
        "records": table.num_rows,
        "source": str(Path(near.__file__).resolve().parents[2]),
        "cluster_id": out["cluster_id"].to_pylist(),
        "record_id": out["record_id"].to_pylist(),
    }


def run_fast_tracemalloc(path: Path) -> dict:
    """Child: in-process run under tracemalloc (Python + numpy allocations), for peak heap only."""
    import tracemalloc

    from lakehouse.dedup import load_dedup_config, near_duplicate_clusters

    table = _read(path, None).select(["record_id", "text", "rank_key"])
    cfg = load_dedup_config()
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
        "peak_rss_mb": _rss_mb("VmHWM"),
        "base_rss_mb": base_rss,
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


def _child(args: list[str], src: str | None = None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(src).resolve()), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False,
                          env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="corpus sizes for near_duplicate_clusters (prefixes of one generated corpus)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--naive-n", type=int, default=None,
                    help="records for the naive loop (default: the smallest --n; 0 skips it)")
    ap.add_argument("--compare-src", default=None,
                    help="source tree of another lakehouse (e.g. an older commit) to run at the smallest --n")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size, the fastest is reported")
    ap.add_argument("--data-dir", default=None, help="keep the generated corpus files here and reuse them")
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.child:
        kind, path = ns.child[0], Path(ns.child[1])
        if kind == "fast":
            res = run_fast(path)
        elif kind == "trace":
            res = run_fast_tracemalloc(path)
        else:
            res = run_naive(path, int(ns.child[2]) or None)
        print(json.dumps(res))
        return

    sizes = sorted(set(ns.n))
    small = sizes[0]
    naive_n = small if ns.naive_n is None else min(ns.naive_n, small)
    load_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        folder = Path(ns.data_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        info = write_inputs(folder, sizes, ns.seed)
        top = info[sizes[-1]]
        print(f"corpus: {top['records']} records, {top['mean_words']:.0f} words/record, "
              f"{top['text_mb']:.0f} MB text, generated in {top['generate_s']:.1f} s", file=sys.stderr)
        for n in sizes:
            path = info[n]["path"]
            runs = []
            for _ in range(ns.repeat):
                load = os.getloadavg()[0]
                runs.append(dict(_child(["fast", str(path)]), load=load))
            res = min(runs, key=lambda r: r["wall_s"])
            rows.append(("`near_duplicate_clusters`", res, quality(path, res)))
            print(f"fast n={n}: {res['wall_s']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB", file=sys.stderr)
            if ns.compare_src and n == small:
                load = os.getloadavg()[0]
                old = dict(_child(["fast", str(path)], ns.compare_src), load=load)
                rows.append((f"`near_duplicate_clusters` from {ns.compare_src}", old, quality(path, old)))
                print(f"compare n={n}: {old['wall_s']:.1f} s", file=sys.stderr)
        naive = None
        if naive_n:
            load = os.getloadavg()[0]
            naive = dict(_child(["naive", str(info[small]["path"]), str(naive_n)]), load=load)
            rows.append((f"naive datasketch loop ({naive_n} records)", naive, quality(info[small]["path"], naive)))
            print(f"naive: {naive['wall_s']:.1f} s", file=sys.stderr)
        trace = None if ns.no_tracemalloc else _child(["trace", str(info[small]["path"])])

    naive_rate = naive["records"] / naive["wall_s"] if naive else None
    print(f"\nMachine: {os.cpu_count()} cores, load average {load_start:.1f} -> {os.getloadavg()[0]:.1f} (start -> end), "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"corpus seed {ns.seed}, {top['mean_words']:.0f} non-system words per conversation\n")
    print("| method | records | wall s | conv/s | CPU s | peak RSS (Δ) MB | Δ B/record | load | "
          "precision | recall | removed | speed-up vs naive |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, res, q in rows:
        rate = res["records"] / res["wall_s"]
        delta = res["peak_rss_mb"] - res["base_rss_mb"]
        speed = f"{rate / naive_rate:.1f}x" if naive_rate else "–"
        print(f"| {name} | {res['records']} | {res['wall_s']:.1f} | {rate:,.0f} | {res['cpu_s']:.1f} | "
              f"{res['peak_rss_mb']:.0f} ({delta:+.0f}) | {delta * 2**20 / res['records']:,.0f} | "
              f"{res['load']:.1f} | {q['precision']:.4f} | {q['recall']:.4f} | {q['removed']} | {speed} |")
    if naive and naive["records"] < small:
        print(f"\nNaive loop ran on the first {naive['records']} records; its {small}-record time is "
              f"extrapolated linearly: {small / naive_rate:.0f} s.")
    if trace:
        print(f"\ntracemalloc peak of a {small}-record `near_duplicate_clusters` run (Python + numpy heap): "
              f"{trace['tracemalloc_peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
