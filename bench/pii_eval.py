"""PII redaction benchmark: recall/precision per entity type and throughput, ours vs vanilla Presidio.

    .venv/bin/python bench/pii_eval.py                      # fixtures copy of presidio-research
    .venv/bin/python bench/pii_eval.py --full /work/shared/samples/pii_presidio_research/synth_dataset_v2.json
    .venv/bin/python bench/pii_eval.py --json bench-pii.json --no-vanilla

Quality sets: (a) presidio-research labelled records (each record its own scope), (b) a seeded
Faker therapy-style conversation set (dev templates and held-out templates) mixed with crisis
sentences that must come out unchanged. Throughput: messages per CPU-second on the build corpus
(lakehouse.synth), cold cache, each variant (this tree, --alt-config, --compare-src tree, vanilla)
in its own child process pinned to one CPU with one thread. With --full, (a) is scored on the
records whose text is not in tests/fixtures/pii (held out) against issue 17's targets. Prints Markdown.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "pii" / "presidio_research_sample.jsonl"
TARGETS = {"ALL": 0.93, "PERSON": 0.95, "PHONE": 0.95, "EMAIL": 0.95, "ADDRESS": 0.95, "SSN": 0.95}
# issue 17, on the held-out presidio-research records (--full): recall per type, and precision over all predictions
HELDOUT_TARGETS = {"NINE": 0.88, "PERSON": 0.90, "ADDRESS": 0.85, "LOCATION": 0.80, "PHONE": 0.95, "EMAIL": 0.95,
                   "SSN": 0.95, "CREDIT_CARD": 0.95, "IBAN": 0.95, "IP": 0.95}
HELDOUT_MIN_PRECISION = 0.90


def _one_core() -> str:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        return "affinity not set"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _table(title: str, rows_ours: list[dict[str, Any]], rows_vanilla: list[dict[str, Any]] | None,
           rows_alt: list[dict[str, Any]] | None = None, alt_name: str = "alt") -> str:
    van = {r["label"]: r for r in rows_vanilla or []}
    alt = {r["label"]: r for r in rows_alt or []}
    head = "| label | gold | recall | char recall | predicted | precision |"
    sep = "| --- | ---: | ---: | ---: | ---: | ---: |"
    if rows_alt is not None:
        head += f" {alt_name} recall | {alt_name} precision |"
        sep += " ---: | ---: |"
    if rows_vanilla is not None:
        head += " vanilla recall | vanilla precision |"
        sep += " ---: | ---: |"
    lines = [f"**{title}**", "", head, sep]
    for r in rows_ours:
        line = (f"| {r['label']} | {r['gold']} | {_fmt(r['recall'])} | {_fmt(r['char_recall'])} | {r['predicted']} "
                f"| {_fmt(r['precision'])} |")
        if rows_alt is not None:
            a = alt.get(r["label"], {})
            line += f" {_fmt(a.get('recall'))} | {_fmt(a.get('precision'))} |"
        if rows_vanilla is not None:
            v = van.get(r["label"], {})
            line += f" {_fmt(v.get('recall'))} | {_fmt(v.get('precision'))} |"
        lines.append(line)
    return "\n".join(lines)


def _vanilla_preds(analyzer: Any, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    from lakehouse.privacy.evaluation import to_pred

    return [to_pred(analyzer.analyze(text=t, language="en")) for t in texts]


def eval_presidio_research(path: Path, redactor: Any, vanilla: Any | None, heldout_only: bool = False,
                           alt: Any | None = None) -> dict[str, Any]:
    """Recall/precision on presidio-research records. ``heldout_only``: only records whose text is
    not in tests/fixtures/pii (the fixture copy is the development subset; the rest is the test set)."""
    from lakehouse.privacy.evaluation import load_presidio_research, score, tallies_table, to_pred

    items = load_presidio_research(path)
    total = len(items)
    if heldout_only:
        seen = {json.loads(line)["full_text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()}
        items = [it for it in items if it.text not in seen]
    texts = [it.text for it in items]
    ours = [to_pred(fs) for fs in redactor.detect_texts(texts)]
    out: dict[str, Any] = {"records": len(items), "of": total, "without_spans": sum(not it.spans for it in items),
                           "ours": tallies_table(score(items, ours))}
    if alt is not None:
        out["alt"] = tallies_table(score(items, [to_pred(fs) for fs in alt.detect_texts(texts)]))
    if vanilla is not None:
        out["vanilla"] = tallies_table(score(items, _vanilla_preds(vanilla, texts)))
    return out


def eval_generated(n: int, seed: int, heldout: bool, redactor: Any, vanilla: Any | None) -> dict[str, Any]:
    from lakehouse.privacy.evaluation import generate_therapy_conversations, score, tallies_table, to_pred

    convs = generate_therapy_conversations(n, seed=seed, heldout=heldout)
    items = [m for c in convs for _, m in c]
    det = redactor.detect_conversations([[m.text for _, m in c] for c in convs])
    ours = [to_pred(fs) for c in det for fs in c]
    res = redactor.redact_conversations([[{"role": r, "content": m.text} for r, m in c] for c in convs])
    kept = total = 0
    for c, rr in zip(convs, res):
        for (_, m), out in zip(c, rr.messages or []):
            for sentence in m.keep:
                total += 1
                kept += sentence in out["content"]
    residual = sum(len(x) for x in redactor.scan([m["content"] for rr in res for m in rr.messages or []]))
    statuses: dict[str, int] = {}
    for rr in res:
        statuses[rr.pii_status] = statuses.get(rr.pii_status, 0) + 1
    out: dict[str, Any] = {"conversations": n, "messages": len(items), "crisis_sentences": total,
                           "crisis_unchanged": kept, "residual_findings_after_redaction": residual,
                           "pii_status": dict(sorted(statuses.items())), "ours": tallies_table(score(items, ours))}
    if vanilla is not None:
        vp = _vanilla_preds(vanilla, [m.text for m in items])
        out["vanilla"] = tallies_table(score(items, vp))
        v_kept = 0
        for m, preds in zip(items, vp):
            for sentence in m.keep:
                s = m.text.index(sentence)
                v_kept += not any(a < s + len(sentence) and s < b for a, b, _ in preds)
        out["vanilla_crisis_unchanged"] = v_kept
    return out


def eval_unlabelled_counsel_chat(path: Path, redactor: Any, n_rows: int) -> dict[str, Any]:
    """Real counselling text without labels (nbertagnolli/counsel-chat CSV): how much gets redacted.
    Mostly therapist answers with little PII, so this is a false-positive rate proxy."""
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for _, r in zip(range(n_rows), csv.DictReader(fh))]
    texts = [t for r in rows for t in (r.get("questionText"), r.get("answerText")) if t]
    det = redactor.detect_texts(texts)
    counts: dict[str, int] = {}
    for fs in det:
        for f in fs:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
    return {"texts": len(texts), "chars": sum(map(len, texts)), "texts_with_findings": sum(bool(fs) for fs in det),
            "findings_by_type": dict(sorted(counts.items()))}


def _measure(fn: Callable[[], Any], n: int, before: Callable[[], Any] | None = None) -> tuple[float, float]:
    """(messages per CPU-second of this process, messages per wall-second) for one run."""
    if before:
        before()
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return n / (time.process_time() - c0), n / (time.perf_counter() - w0)


def build_corpus_conversations(n_messages: int, seed: int = 42) -> list[list[dict[str, str]]]:
    """Conversations of the build corpus (lakehouse.synth, system prompts included) until
    ``n_messages`` messages; therapy-length turns (mean ~32 words)."""
    from lakehouse.synth.corpus import generate_corpus

    convs: list[list[dict[str, str]]] = []
    count = 0
    for rec in generate_corpus(max(100, n_messages), seed):
        convs.append([{"role": m["role"], "content": m["content"]} for m in rec["messages"]])
        count += len(rec["messages"])
        if count >= n_messages:
            break
    return convs


def throughput_child(n_messages: int, config_path: str | None, repeats: int, vanilla: bool) -> dict[str, Any]:
    """One variant in this process (run as a child, so another source tree can be measured):
    cold-cache ``redact_conversations`` on the build corpus, best of ``repeats``, CPU and wall."""
    convs = build_corpus_conversations(n_messages)
    n = sum(len(c) for c in convs)
    distinct = len({m["content"] for c in convs for m in c})
    warm = [[{"role": "user", "content": "Warm-up: Dr. Lena Ortiz, 555-201-3344, 12 Main St, Boston."}]]
    if vanilla:
        from lakehouse.privacy import _presidio, load_privacy_config

        van = _presidio.build_vanilla_analyzer(load_privacy_config(config_path).model)
        van.analyze(text=warm[0][0]["content"], language="en")
        texts = [m["content"] for c in convs for m in c]
        seen: dict[str, Any] = {}

        def run() -> None:  # distinct texts once (as our cache does), per-message analyze (default usage)
            seen.clear()
            for t in texts:
                if t not in seen:
                    seen[t] = van.analyze(text=t, language="en")
        before = None
    else:
        from lakehouse.privacy import Redactor, load_privacy_config

        red = Redactor(load_privacy_config(config_path))
        red.redact_conversations(warm)

        def run() -> None:
            red.redact_conversations(convs)
        before = red.clear_cache
    best = [0.0, 0.0]
    for _ in range(repeats):
        cpu, wall = _measure(run, n, before)
        best = [max(best[0], cpu), max(best[1], wall)]
    return {"messages": n, "distinct": distinct, "cpu": round(best[0], 1), "wall": round(best[1], 1)}


def throughput(n_messages: int, variants: list[tuple[str, str | None, str | None, bool]], repeats: int) -> dict[str, Any]:
    """Each variant (label, source tree or None for this one, config path, vanilla?) in its own
    pinned child process; the variants run one after another, ``repeats`` cold runs each."""
    import subprocess

    rates: dict[str, Any] = {}
    load0 = os.getloadavg()[0]
    for label, src, config, vanilla in variants:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--throughput-child", str(n_messages),
               "--repeats", str(repeats)] + (["--config", config] if config else []) + (["--vanilla-child"] if vanilla else [])
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src or str(REPO))
        if res.returncode != 0:
            rates[label] = {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
            continue
        rates[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return {"repeats": repeats, "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)], "rates": rates}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", type=Path, help="presidio-research JSON/JSONL file instead of the fixtures subset")
    ap.add_argument("--config", help="privacy.yml (default: packaged)")
    ap.add_argument("--conversations", type=int, default=400, help="generated conversations per template set")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--throughput-messages", type=int, default=2000)
    ap.add_argument("--no-vanilla", action="store_true", help="skip default-settings Presidio")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--json", type=Path, help="also write all numbers here")
    ap.add_argument("--counsel-chat", type=Path, help="counsel_chat CSV: unlabelled real text, findings by type")
    ap.add_argument("--counsel-chat-rows", type=int, default=700)
    ap.add_argument("--alt-config", help="a second privacy.yml measured beside the default (e.g. the md model)")
    ap.add_argument("--alt-name", default="md")
    ap.add_argument("--compare-src", help="an older source tree (git archive) whose redactor's throughput is measured too")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--throughput-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--vanilla-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    pinned = _one_core()
    if args.throughput_child:
        print(json.dumps(throughput_child(args.throughput_child, args.config, args.repeats, args.vanilla_child)))
        return 0
    from lakehouse.privacy import Redactor, load_privacy_config
    from lakehouse.privacy import _presidio

    cfg = load_privacy_config(args.config)
    redactor = Redactor(cfg)
    vanilla = None if args.no_vanilla else _presidio.build_vanilla_analyzer(cfg.model)
    model, version = _presidio.model_name_version(redactor.analyzer, cfg.language)
    path = args.full or FIXTURE
    report: dict[str, Any] = {"model": f"{cfg.model} ({model} {version})", "config_hash": cfg.config_hash,
                              "cpu": pinned, "presidio_research_file": str(path)}
    alt = Redactor(load_privacy_config(args.alt_config)) if args.alt_config else None
    report["presidio_research"] = eval_presidio_research(path, redactor, vanilla, heldout_only=bool(args.full), alt=alt)
    report["generated_dev"] = eval_generated(args.conversations, args.seed, False, redactor, vanilla)
    report["generated_heldout"] = eval_generated(args.conversations, args.seed + 1, True, redactor, vanilla)
    if args.counsel_chat:
        report["counsel_chat"] = eval_unlabelled_counsel_chat(args.counsel_chat, redactor, args.counsel_chat_rows)
    if not args.no_throughput:
        variants: list[tuple[str, str | None, str | None, bool]] = [("ours (this tree, default config)", None, args.config, False)]
        if args.alt_config:
            variants.append((f"ours ({args.alt_name})", None, args.alt_config, False))
        if args.compare_src:
            variants.append((f"previous redactor ({Path(args.compare_src).name})", args.compare_src, None, False))
        if not args.no_vanilla:
            variants.append(("vanilla Presidio, analyze() per distinct message", None, args.config, True))
        report["throughput_msgs_per_s"] = throughput(args.throughput_messages, variants, args.repeats)

    print(f"# PII eval\n\nmodel: {report['model']}; config_hash {cfg.config_hash[:12]}; {pinned}\n")
    pr = report["presidio_research"]
    print(_table(f"(a) presidio-research {path.name}: {pr['records']} of {pr['of']} records "
                 f"({'held out: texts not in tests/fixtures/pii; ' if args.full else ''}{pr['without_spans']} without spans)",
                 pr["ours"], pr.get("vanilla"), pr.get("alt"), args.alt_name), "\n")
    failed = []
    if args.full:
        rec = {r["label"]: r["recall"] for r in pr["ours"]}
        failed += [f"held-out:{k} {rec.get(k)} < {v}" for k, v in HELDOUT_TARGETS.items() if k in rec and (rec[k] or 0) < v]
        prec = {r["label"]: r["precision"] for r in pr["ours"]}.get("ALL") or 0
        if prec < HELDOUT_MIN_PRECISION:
            failed.append(f"held-out: precision {prec} < {HELDOUT_MIN_PRECISION}")
    for key, label in (("generated_dev", "dev templates"), ("generated_heldout", "held-out templates")):
        g = report[key]
        print(_table(f"(b) generated therapy set, {label}: {g['conversations']} conversations, {g['messages']} messages",
                     g["ours"], g.get("vanilla")))
        print(f"\ncrisis sentences unchanged: ours {g['crisis_unchanged']}/{g['crisis_sentences']}"
              + (f", vanilla {g['vanilla_crisis_unchanged']}/{g['crisis_sentences']}" if "vanilla" in g else "")
              + f"; residual findings after redaction: {g['residual_findings_after_redaction']}; pii_status {g['pii_status']}\n")
        rec = {r["label"]: r["recall"] for r in g["ours"]}
        failed += [f"{key}:{k} {rec.get(k)} < {v}" for k, v in TARGETS.items() if (rec.get(k) or 0) < v]
        if g["crisis_unchanged"] != g["crisis_sentences"]:
            failed.append(f"{key}: crisis sentences changed")
    if "counsel_chat" in report:
        cc = report["counsel_chat"]
        print(f"**(c) counsel_chat (unlabelled, real)**: {cc['texts']} texts, {cc['chars']} chars, "
              f"{cc['texts_with_findings']} with findings; findings by type {cc['findings_by_type']}\n")
    if "throughput_msgs_per_s" in report:
        tp = report["throughput_msgs_per_s"]
        first = next((v for v in tp["rates"].values() if "messages" in v), {})
        print(f"**throughput** on the build corpus (lakehouse.synth): {first.get('messages')} messages "
              f"({first.get('distinct')} distinct), cold cache, best of {tp['repeats']} runs per variant, each variant "
              f"in its own process pinned to one CPU, 1 thread; load average {tp['load_avg_1m']}\n")
        print("| variant | msgs / CPU-s | msgs / wall-s |\n| --- | ---: | ---: |")
        for k, v in tp["rates"].items():
            print(f"| {k} | {v.get('cpu', v.get('error'))} | {v.get('wall', '')} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if failed:
        print("\nTARGETS MISSED: " + "; ".join(failed))
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
