"""Optional score backends: replace a score column with a local Hugging Face classifier folder or
an OpenAI-compatible judge endpoint (quality.yml `backends`). Same output columns either way.

    backends:
      empathy:   {kind: hf_classifier, path: /models/empathy-clf, labels: {LABEL_0: 0.0, LABEL_1: 0.5, LABEL_2: 1.0}}
      coherence: {kind: judge, url: http://127.0.0.1:8000/v1, model: local-judge, rubric: "..."}

- hf_classifier: each (client turn, reply) pair is classified ("client [SEP] reply", truncated to
  512 tokens); the turn score is the probability-weighted mean of `labels` values; the record score
  the mean over its replies. Nothing downloads: `path` must be a local folder.
- judge: one chat-completions request per record (temperature 0, seed 0) with a rubric prompt;
  the reply must hold a JSON object {"score": <0..1>}. The key comes from
  LAKEHOUSE_GENERATOR_API_KEY (sent as a Bearer token when set). A judge is only as deterministic
  as its server: pin the model and keep temperature 0, or cache its scores.
A record the backend cannot score keeps the built-in score. The backend spec is part of the config
hash, so switching backends re-scores every record.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from typing import Any, Mapping, Sequence

from .config import QualityConfigError

OVERRIDABLE = ("empathy", "emotional_reactions", "interpretations", "explorations", "coherence",
               "reasoning_completeness", "crisis_handling")
API_KEY_ENV = "LAKEHOUSE_GENERATOR_API_KEY"
DEFAULT_RUBRIC = {
    "empathy": "Rate the counsellor's empathy toward the client (Sharma et al. 2020: emotional reactions, "
               "interpretations, explorations). 0 = none or dismissive, 0.7 = clearly empathic and specific, 1 = exemplary.",
    "coherence": "Rate whether each counsellor reply is relevant to what the client said and the conversation stays on topic. "
                 "0 = off-topic, 0.8 = relevant throughout, 1 = perfectly focused.",
    "reasoning_completeness": "Rate the reasoning: explicit steps, evidence for each, and a conclusion. 0 = none, 1 = complete.",
    "crisis_handling": "If the client discloses a crisis, rate the reply: acknowledges it, asks about safety, offers resources "
                       "(988, a crisis line, emergency services) and stays engaged. 0 = harmful or dismissive, 1 = all four.",
}


def _pairs(turns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out, last = [], None
    for role, text in turns:
        if role == "user":
            last = text
        elif last is not None:
            out.append((last, text))
    return out


def _transcript(turns: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{'Client' if r == 'user' else 'Counsellor'}: {t}" for r, t in turns)


class JudgeBackend:
    def __init__(self, score: str, spec: Mapping[str, Any]):
        self.score = score
        self.url = str(spec.get("url") or "").rstrip("/")
        if not self.url:
            raise QualityConfigError(f"quality backends.{score}: judge needs `url`")
        self.model = str(spec.get("model", "judge"))
        self.rubric = str(spec.get("rubric") or DEFAULT_RUBRIC.get(score, f"Rate {score} from 0 to 1."))
        self.timeout = float(spec.get("timeout", 60))

    def __call__(self, turns: Sequence[tuple[str, str]]) -> float | None:
        body = {"model": self.model, "temperature": 0, "seed": 0, "messages": [
            {"role": "system", "content": self.rubric + ' Answer with JSON only: {"score": <number between 0 and 1>}.'},
            {"role": "user", "content": _transcript(turns)}]}
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(API_KEY_ENV)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url + "/chat/completions", data=json.dumps(body).encode(), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                content = json.loads(resp.read())["choices"][0]["message"]["content"]
            m = re.search(r"\{.*\}", content, re.S)
            value = float(json.loads(m.group(0) if m else content)["score"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
        return min(1.0, max(0.0, value))


class HFClassifierBackend:
    def __init__(self, score: str, spec: Mapping[str, Any]):
        self.score = score
        self.path = str(spec.get("path") or "")
        if not self.path or not os.path.isdir(self.path):
            raise QualityConfigError(f"quality backends.{score}: hf_classifier `path` must be a local folder, got {self.path!r}")
        self.labels = {str(k): float(v) for k, v in (spec.get("labels") or {}).items()}
        from transformers import pipeline

        self.pipe = pipeline("text-classification", model=self.path, tokenizer=self.path, device="cpu", top_k=None)

    def __call__(self, turns: Sequence[tuple[str, str]]) -> float | None:
        pairs = _pairs(turns)
        if not pairs:
            return None
        sep = getattr(self.pipe.tokenizer, "sep_token", None) or " | "
        outs = self.pipe([f"{u} {sep} {a}" for u, a in pairs], truncation=True, max_length=512)
        vals = []
        for res in outs:
            probs = {d["label"]: float(d["score"]) for d in res}
            if self.labels:
                vals.append(sum(p * self.labels.get(lbl, 0.0) for lbl, p in probs.items()))
            else:  # binary default: probability of the last label
                vals.append(probs[sorted(probs)[-1]])
        return sum(vals) / len(vals)


class Backends:
    def __init__(self, specs: Mapping[str, Mapping[str, Any]]):
        self.items = []
        for score, spec in sorted(specs.items()):
            if score not in OVERRIDABLE:
                raise QualityConfigError(f"quality backends: {score!r} cannot be replaced (one of {OVERRIDABLE})")
            cls = JudgeBackend if spec.get("kind") == "judge" else HFClassifierBackend
            self.items.append((score, cls(score, spec)))

    def apply(self, records: Sequence[Any], out: list[dict[str, Any]]) -> None:
        from .scorers import _turns

        for rec, s in zip(records, out):
            if rec.kind == "sft":
                turns = _turns(rec.messages)
            elif rec.kind == "preference":
                turns = _turns(rec.prompt, rec.chosen)
            else:
                continue
            for score, fn in self.items:
                if score == "crisis_handling" and not s.get("crisis_disclosure"):
                    continue
                value = fn(turns)
                if value is not None:
                    s[score] = value


def build_backends(specs: Mapping[str, Mapping[str, Any]]) -> Backends:
    return Backends(specs)
