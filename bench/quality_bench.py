"""Quality scorers: throughput per core, score distributions on the bundled samples, agreement
with public human labels. Numbers go to bench/README.md ("Quality").

    .venv/bin/python bench/quality_bench.py                         # bundled samples, MiniLM + lexicon-only
    .venv/bin/python bench/quality_bench.py --shared /work/shared/samples   # + full hh-rlhf / KTO labels
    .venv/bin/python bench/quality_bench.py --max-tokens 32 64      # truncation variants

Throughput is conversations per CPU-second of this process with torch on ONE thread (= per core),
measured with time.process_time(), so other load on a shared machine inflates it little. Each
dataset starts with an empty embedding cache (identical turns inside a dataset are embedded once,
as in a real build).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lakehouse.quality.scorers import Record, Scorer  # noqa: E402

_HH = re.compile(r"\n\n(Human|Assistant): ")


def msgs(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


def hh_turns(s: str) -> list[dict[str, str]]:
    parts = _HH.split(s)
    out = []
    for i in range(1, len(parts) - 1, 2):
        out.append({"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1].strip()})
    return out


def hh_pair(obj: dict[str, str]) -> Record | None:
    c, r = hh_turns(obj["chosen"]), hh_turns(obj["rejected"])
    if not c or not r or c[-1]["role"] != "assistant" or r[-1]["role"] != "assistant":
        return None
    return Record("preference", prompt=c[:-1], chosen=c[-1:], rejected=r[-1:])


def sharegpt(conv: list[dict[str, str]]) -> list[dict[str, str]]:
    role = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}
    return [{"role": role.get(m.get("from", ""), "user"), "content": m.get("value", "")} for m in conv]


def load_samples(shared: Path | None) -> dict[str, tuple[list[Record], list[Any]]]:
    """name -> (records, human labels or None per record)."""
    S, F = REPO / "samples", REPO / "tests" / "fixtures" / "samples"
    out: dict[str, tuple[list[Record], list[Any]]] = {}
    syn = [json.loads(l) for l in (S / "chatml" / "synthetic_therapy_sessions.jsonl").open()]
    out["samples/chatml synthetic_therapy_sessions"] = ([Record("sft", messages=r["messages"]) for r in syn], [None] * len(syn))
    rows = list(csv.DictReader((S / "counsel_chat" / "counsel_chat_sample.csv").open(encoding="utf-8")))
    out["samples/counsel_chat (250)"] = (
        [Record("sft", messages=msgs([("user", f"{r['questionTitle']}\n{r['questionText']}".strip()), ("assistant", r["answerText"])]))
         for r in rows], [(r["questionID"], int(r["upvotes"] or 0)) for r in rows])
    for folder, fam in (("cot_reasoning", "cot_reasoning"), ("edge_cases", "edge_case_generator"), ("voice_persona", "voice_persona")):
        for fp in sorted((S / folder).glob("*.jsonl")):
            rs = [json.loads(l) for l in fp.open()]
            out[f"samples/{folder} ({fam})"] = ([Record("sft", messages=r["messages"]) for r in rs], [None] * len(rs))
    sess = []
    for fp in sorted((S / "sessions").glob("*.json")):
        turns = json.load(fp.open())
        sess.append(Record("sft", messages=[{"role": "user" if t["role"] == "client" else "assistant", "content": t["content"]}
                                            for t in turns]))
    if sess:
        out["samples/sessions (one per file)"] = (sess, [None] * len(sess))
    fc = json.load((S / "sharegpt" / "fastchat_dummy_conversation.json").open())
    out["samples/sharegpt fastchat_dummy (500)"] = ([Record("sft", messages=sharegpt(r["conversations"])) for r in fc], [None] * len(fc))
    with gzip.open(S / "hh_rlhf" / "harmless_base_test_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        hh = [p for p in (hh_pair(json.loads(l)) for l in f) if p]
    out["samples/hh_rlhf harmless (150)"] = (hh, ["chosen"] * len(hh))
    kto = json.load((F / "sharegpt" / "llamafactory_kto_en_demo_subset.json").open())
    out["fixtures/kto_en_demo (16)"] = ([Record("sft", messages=r["messages"]) for r in kto], [r["label"] for r in kto])
    dpo = json.load((F / "sharegpt" / "llamafactory_dpo_en_demo_subset.json").open())
    out["fixtures/dpo_en_demo (12)"] = (
        [Record("preference", prompt=sharegpt(r["conversations"]), chosen=sharegpt([r["chosen"]]), rejected=sharegpt([r["rejected"]]))
         for r in dpo], ["chosen"] * len(dpo))
    alp = json.load((F / "alpaca" / "llamafactory_alpaca_en_demo_subset.json").open())
    out["fixtures/alpaca (subset)"] = (
        [Record("sft", messages=msgs([("user", (r["instruction"] + "\n" + r.get("input", "")).strip()), ("assistant", r["output"])]))
         for r in alp], [None] * len(alp))
    if shared and shared.is_dir():
        with gzip.open(shared / "hh_rlhf" / "harmless-base_test.jsonl.gz", "rt", encoding="utf-8") as f:
            hh = [p for p in (hh_pair(json.loads(l)) for l in f) if p]
        out["shared/hh_rlhf harmless-base test (full)"] = (hh, ["chosen"] * len(hh))
        kto = json.load((shared / "sharegpt" / "llamafactory_kto_en_demo.json").open())
        out["shared/kto_en_demo (full)"] = ([Record("sft", messages=r["messages"]) for r in kto], [r["label"] for r in kto])
        dpo = json.load((shared / "sharegpt" / "llamafactory_dpo_en_demo.json").open())
        out["shared/dpo_en_demo (full)"] = (
            [Record("preference", prompt=sharegpt(r["conversations"]), chosen=sharegpt([r["chosen"]]), rejected=sharegpt([r["rejected"]]))
             for r in dpo], ["chosen"] * len(dpo))
        rows = list(csv.DictReader((shared / "counsel_chat" / "20200325_counsel_chat.csv").open(encoding="utf-8")))
        out["shared/counsel_chat (full)"] = (
            [Record("sft", messages=msgs([("user", f"{r['questionTitle']}\n{r['questionText']}".strip()), ("assistant", r["answerText"])]))
             for r in rows], [(r["questionID"], int(r["upvotes"] or 0)) for r in rows])
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def n_turns(r: Record) -> int:
    msgs = list(r.messages or []) + list(r.prompt or []) + list(r.chosen or []) + list(r.rejected or [])
    return sum(1 for m in msgs if m and m.get("role") in ("user", "assistant"))


def summarize(name: str, scores: list[dict[str, Any]], labels: list[Any], rate: float, mode: str,
              turns: int = 0) -> dict[str, Any]:
    n = len(scores)
    def vals(k: str) -> list[float]:
        return [s[k] for s in scores if s[k] is not None]
    out: dict[str, Any] = {"dataset": name, "mode": mode, "n": n, "conv_per_cpu_s": round(rate, 1),
                           "turns_per_conv": round(turns / n, 1) if n else 0, "turns_per_cpu_s": round(rate * turns / n, 1) if n else 0}
    for k in ("empathy", "coherence", "reasoning_completeness", "preference_margin", "crisis_handling"):
        v = vals(k)
        if v:
            out[k] = {"p10": pct(v, .1), "p50": pct(v, .5), "p90": pct(v, .9), "mean": round(statistics.fmean(v), 3)}
    conv = [s for s in scores if s["empathy"] is not None]
    if conv:
        out["share_empathy_ge_0.7"] = round(sum(s["empathy"] >= 0.7 for s in conv) / len(conv), 3)
        out["share_empathy_ge_0.6"] = round(sum(s["empathy"] >= 0.6 for s in conv) / len(conv), 3)
        out["share_coherence_ge_0.8"] = round(sum((s["coherence"] or 0) >= 0.8 for s in conv) / len(conv), 3)
        out["share_stage1_pass"] = round(sum(s["empathy"] >= 0.7 and (s["coherence"] or 0) >= 0.8 for s in conv) / len(conv), 3)
    out["crisis_disclosure"] = sum(bool(s["crisis_disclosure"]) for s in scores)
    out["crisis_unhandled"] = sum(bool(s["crisis_disclosure"]) and s["crisis_handling"] is not None and s["crisis_handling"] < 0.5
                                  for s in scores)
    out["harmful_response"] = sum(bool(s["harmful_response"]) for s in scores)
    out["toxic_assistant"] = sum(bool(s["toxic_assistant"]) for s in scores)
    # agreement with human labels
    if labels and labels[0] == "chosen":
        m = [s["preference_margin"] for s in scores]
        out["human_pref_agreement"] = {"margin>0": round(sum(x > 0 for x in m) / n, 3), "margin=0": round(sum(x == 0 for x in m) / n, 3),
                                       "margin<0": round(sum(x < 0 for x in m) / n, 3),
                                       "share_margin_ge_0.1": round(sum(x >= 0.1 for x in m) / n, 3)}
    elif labels and isinstance(labels[0], bool):
        pos = [s["empathy"] or 0 for s, l in zip(scores, labels) if l]
        neg = [s["empathy"] or 0 for s, l in zip(scores, labels) if not l]
        q = [(s["empathy"] or 0) * 0.5 + (s["coherence"] or 0) * 0.5 - (1.0 if s["harmful_response"] else 0) for s in scores]
        qp = [x for x, l in zip(q, labels) if l]
        qn = [x for x, l in zip(q, labels) if not l]
        auc = sum((a > b) + 0.5 * (a == b) for a in qp for b in qn) / max(1, len(qp) * len(qn))
        out["kto_label_auc(empathy+coherence-harm)"] = round(auc, 3)
        out["kto_mean_empathy_desirable_vs_not"] = [round(statistics.fmean(pos), 3) if pos else None, round(statistics.fmean(neg), 3) if neg else None]
    elif labels and isinstance(labels[0], tuple):
        # counsel_chat: within each question with >= 2 answers, does the more upvoted answer score higher?
        by_q: dict[str, list[tuple[int, float]]] = {}
        for s, (qid, up) in zip(scores, labels):
            by_q.setdefault(qid, []).append((up, s["empathy"] or 0))
        agree = total = 0
        for answers in by_q.values():
            for i in range(len(answers)):
                for j in range(i + 1, len(answers)):
                    (ua, ea), (ub, eb) = answers[i], answers[j]
                    if ua != ub and ea != eb:
                        total += 1
                        agree += (ua > ub) == (ea > eb)
        out["upvote_pair_agreement(empathy)"] = {"pairs": total, "agree": round(agree / total, 3) if total else None}
    return out


def run(datasets: dict[str, tuple[list[Record], list[Any]]], embeddings: bool, max_tokens: int) -> list[dict[str, Any]]:
    from lakehouse.quality.config import load_quality_config

    cfg = load_quality_config(embeddings=embeddings, model={"max_tokens": max_tokens, "threads": 1})
    t = time.time()
    scorer = Scorer(cfg)
    if scorer.embedder is not None:
        scorer.embedder.embed(["warm up"])
    print(f"# scorer load ({'MiniLM' if embeddings else 'lexicon'}): {time.time() - t:.1f}s wall", file=sys.stderr)
    mode = f"minilm max_tokens={max_tokens}" if embeddings else "lexicon-only"
    results = []
    for name, (recs, labels) in datasets.items():
        if scorer.embedder is not None:
            scorer.embedder._cache.clear()
        c = time.process_time()
        scores = []
        for i in range(0, len(recs), 256):
            scores += scorer.score_records(recs[i:i + 256])
        dt = time.process_time() - c
        res = summarize(name, scores, labels, len(recs) / dt if dt else float("inf"), mode, sum(n_turns(r) for r in recs))
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=None, help="/work/shared/samples: full public sets with human labels")
    ap.add_argument("--max-tokens", type=int, nargs="*", default=[64])
    ap.add_argument("--no-lexicon", action="store_true")
    ap.add_argument("--no-embeddings", action="store_true")
    ap.add_argument("--only", nargs="*", default=None, help="dataset name substrings")
    args = ap.parse_args()
    data = load_samples(args.shared)
    if args.only:
        data = {k: v for k, v in data.items() if any(o in k for o in args.only)}
    if not args.no_lexicon:
        run(data, False, 64)
    if not args.no_embeddings:
        for mt in args.max_tokens:
            run(data, True, mt)


if __name__ == "__main__":
    main()
