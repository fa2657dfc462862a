"""Scale benchmark (issue 10): cold build, incremental rebuilds, Ray 1 vs 2 workers.

Generates ``--n`` therapy-style conversations with :mod:`lakehouse.synth` (turns of 20-80 words,
person names in most), lands them in a fresh lakehouse root and runs, in one process tree:

1. a cold ``lakehouse build`` (empty caches);
2. a rebuild with nothing new (every cache warm);
3. a rebuild after landing ``--new-share`` more conversations;
4. the per-record PII analysis of ``--ray-messages`` message texts on Ray with 1 worker and with
   2 workers, after both are warm (Ray started and models loaded: start-up is not counted).

Reports wall time, the per-stage lines the engine prints, and the peak RSS summed over the build
and its workers (sampled every 0.5 s). Numbers, not assertions: see bench/README.md.

    python bench/scale_bench.py --n 20000 --data-dir /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tree_sample(pid: int, cpu: dict[int, tuple[str, float]]) -> int:
    """RSS summed over ``pid`` and its descendants; records each process's CPU seconds in ``cpu``
    (pid -> (role, seconds), the last value seen: a process's CPU time only grows)."""
    from lakehouse.engine.watchdog import _psutil

    psutil = _psutil()
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
            t = q.cpu_times()
            cmd = " ".join(q.cmdline()[:4])
            role = ("worker" if ("spawn_main" in cmd or "ray::" in q.name() or "default_worker" in cmd)
                    else "driver" if ("dbt" in cmd or "lakehouse" in cmd) else "other")
            cpu[q.pid] = (role, t.user + t.system)
        except psutil.NoSuchProcess:
            pass
    return total


def run(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int, str]:
    """Run ``cmd``; return (wall seconds, peak tree RSS bytes, stderr+stdout). CPU seconds by role
    (driver = lakehouse/dbt, workers = engine processes or Ray workers, other) go to LAST_CPU."""
    t0 = time.perf_counter()
    cpu: dict[int, tuple[str, float]] = {}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=fh, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_sample(proc.pid, cpu))
            time.sleep(0.5)
    wall = time.perf_counter() - t0
    LAST_CPU.clear()
    for role, sec in cpu.values():
        LAST_CPU[role] = round(LAST_CPU.get(role, 0.0) + sec, 1)
    out = log.read_text()
    if proc.returncode:   # keep the figures of a build that ran its stages but failed a gate
        print(f"{' '.join(cmd[:3])} failed ({proc.returncode}); see {log}", file=sys.stderr, flush=True)
        LAST_CPU["failed"] = float(proc.returncode)
    return wall, peak, out


LAST_CPU: dict[str, float] = {}


STAGE_RE = re.compile(r"\[lakehouse\] (\S+): ([\d,]+) records in (\S+) \(([\d,.]+)/s\)")


NODE_RE = re.compile(r"OK created \S+ (?:\S+ )?model (\S+) .*?\[\S+ in ([\d.]+)s\]")


def stages(out: str) -> list[str]:
    lines = [f"{m.group(1)} {m.group(2)} in {m.group(3)} ({m.group(4)}/s)" for m in STAGE_RE.finditer(out)]
    nodes = sorted(((float(m.group(2)), m.group(1).split(".")[-1]) for m in NODE_RE.finditer(out)), reverse=True)
    return lines + [f"dbt {name} {sec:.1f}s" for sec, name in nodes[:8]]


def ray_compare(texts: list[str], warm_texts: list[str], rows: int) -> dict[str, float]:
    import pyarrow as pa

    from lakehouse.engine import map_batches, shutdown
    from lakehouse.engine.settings import EngineSettings

    batch = pa.table({"text": texts})
    out = {}
    for rep, workers in enumerate((1, 2, 1, 2)):   # each twice, interleaved; the faster run of each counts
        settings = EngineSettings(engine="ray", workers=workers, progress_seconds=1e9)
        # one batch per actor, of texts outside the timed set: Ray up, models loaded, no cache hits
        warm = pa.table({"text": warm_texts[rep * rows * 2:][: rows * workers]})
        list(map_batches("lakehouse.engine.stages:pii_analyze_batch", warm.to_batches(), settings=settings,
                         batch_rows=rows))  # Ray up, one batch per actor: models loaded
        t0 = time.perf_counter()
        list(map_batches("lakehouse.engine.stages:pii_analyze_batch", batch.to_batches(), settings=settings,
                         batch_rows=rows))
        took = time.perf_counter() - t0
        out[f"ray_{workers}_run{rep // 2 + 1}"] = round(took, 2)
        out[f"ray_{workers}"] = min(took, out.get(f"ray_{workers}", took))
    shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--new-share", type=float, default=0.05)
    ap.add_argument("--ray-messages", type=int, default=6000, help="distinct message texts analysed per Ray run")
    ap.add_argument("--data-dir", default="/tmp/lakehouse-scale")
    ap.add_argument("--skip-builds", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-rebuilds", action="store_true", help="cold build only (for the largest sizes)")
    ap.add_argument("--lexicon-only", action="store_true",
                    help="quality scores without the MiniLM embeddings (quality.yml `embeddings: false`, via "
                         "LAKEHOUSE_CONFIG_DIR): the stages the issue's 13 min 50 s baseline had, plus lexicon scores")
    args = ap.parse_args()

    from lakehouse.synth import generate_corpus, write_jsonl

    work = Path(args.data_dir)
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    n_new = int(args.n * args.new_share)
    records = list(generate_corpus(args.n + n_new, seed=7, exact_dup_rate=0.02, near_dup_rate=0.03,
                                   cross_family_rate=0.0, families=("cptsd",)))
    for r in records:
        r.pop("planted", None)
    write_jsonl(work / "in" / "base.jsonl", records[: args.n])
    write_jsonl(work / "in" / "new.jsonl", records[args.n:])
    env = dict(os.environ, LAKEHOUSE_ROOT=str(work / "root"), LAKEHOUSE_DUCKDB_PATH=str(work / "build.duckdb"),
               LAKEHOUSE_PROJECT_DIR=str(REPO), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    if args.lexicon_only:
        cfg_dir = work / "config"
        cfg_dir.mkdir()
        text = (REPO / "lakehouse" / "config" / "quality.yml").read_text()
        assert "\nembeddings: true\n" in text
        (cfg_dir / "quality.yml").write_text(text.replace("\nembeddings: true\n", "\nembeddings: false\n"))
        env["LAKEHOUSE_CONFIG_DIR"] = str(cfg_dir)   # every other policy YAML falls back to the packaged one
    report: dict[str, object] = {"n": args.n, "new": n_new, "cpus": os.cpu_count(),
                                 "quality": "lexicon-only" if args.lexicon_only else "MiniLM embeddings",
                                 "load_avg_at_start": os.getloadavg()[0]}
    lh = str(BIN / "lakehouse")
    land = [lh, "land", "--source", "synth", "--family", "cptsd", "--license", "CC0-1.0"]  # no empathy threshold: synthetic templates would not reach redaction
    vars_ = json.dumps({"coverage_waivers": ["mental_health_datasets", "cot_reasoning", "edge_case_generator", "voice_persona"],
                        "distribution_min_records": 10**9})
    if not args.skip_builds:
        report["land_s"] = run([*land[:2], str(work / "in" / "base.jsonl"), *land[2:]], env, work / "land.log")[0]
        builds = (("cold", "v-cold"),) if args.skip_rebuilds else (("cold", "v-cold"), ("warm_nothing_new", "v-warm"))
        for name, version in builds:
            wall, peak, out = run([lh, "build", "--version", version, "--vars", vars_], env, work / f"{name}.log")
            report[name] = {"wall_s": round(wall, 1), "peak_rss_gb": round(peak / 2**30, 2), "cpu_s": dict(LAST_CPU),
                            "stages": stages(out)}
            print(name, report[name], flush=True)
    if not args.skip_builds and not args.skip_rebuilds:
        run([*land[:2], str(work / "in" / "new.jsonl"), *land[2:]], env, work / "land2.log")
        wall, peak, out = run([lh, "build", "--version", "v-plus5", "--vars", vars_], env, work / "plus5.log")
        report["warm_plus_new"] = {"wall_s": round(wall, 1), "peak_rss_gb": round(peak / 2**30, 2), "cpu_s": dict(LAST_CPU),
                                   "stages": stages(out)}
        print("warm_plus_new", report["warm_plus_new"], flush=True)
        cold = report["cold"]["wall_s"]  # type: ignore[index]
        report["ratio_nothing_new"] = round(report["warm_nothing_new"]["wall_s"] / cold, 3)  # type: ignore[index]
        report["ratio_plus_new"] = round(report["warm_plus_new"]["wall_s"] / cold, 3)  # type: ignore[index]
    if not args.skip_ray:
        distinct = list(dict.fromkeys(m["content"] for r in records for m in r["messages"] if m["role"] != "system"))
        texts, warm_texts = distinct[: args.ray_messages], distinct[args.ray_messages:]
        times = ray_compare(texts, warm_texts, rows=64)
        report["ray"] = {**{k: round(v, 1) for k, v in times.items()},
                         "speedup_2_vs_1": round(times["ray_1"] / times["ray_2"], 2), "messages": len(texts)}
        print("ray", report["ray"], flush=True)
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
