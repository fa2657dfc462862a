"""Conversation scorers: empathy mechanisms, coherence, reasoning, crisis disclosure/handling, harm.

Pure and deterministic: a record's scores depend only on its own text and the config. Every
distinct turn text is analysed (and, with embeddings, embedded) once per batch; nothing about a
record depends on which other records share the batch. Meanings and calibration: docs/quality.md.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .config import QualityConfig, load_quality_config
from .lexicon import Lexicon, TurnFeatures

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
SCORE_FIELDS = ("empathy", *MECHANISMS, "coherence", "reasoning_completeness", "crisis_disclosure",
                "crisis_categories", "crisis_handling", "harmful_response", "toxic_assistant", "preference_margin")
_CONV_ROLES = ("user", "assistant")


def _clip(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else float(x)


def _r3(x: float | None) -> float | None:
    return None if x is None else round(float(x) + 0.0, 3)


@dataclass(frozen=True)
class Record:
    kind: str | None
    messages: Sequence[Mapping[str, Any]] | None = None
    prompt: Sequence[Mapping[str, Any]] | None = None
    chosen: Sequence[Mapping[str, Any]] | None = None
    rejected: Sequence[Mapping[str, Any]] | None = None
    text: str | None = None


Turns = list[tuple[str, str]]


def _turns(*parts: Sequence[Mapping[str, Any]] | None) -> Turns:
    out: Turns = []
    for part in parts:
        for m in part or []:
            if not m:
                continue
            role, content = m.get("role"), m.get("content")
            if role in _CONV_ROLES and isinstance(content, str) and content.strip():
                out.append((str(role), content))
    return out


def empty_scores() -> dict[str, Any]:
    return {"empathy": None, "emotional_reactions": None, "interpretations": None, "explorations": None,
            "coherence": None, "reasoning_completeness": None, "crisis_disclosure": False, "crisis_categories": [],
            "crisis_handling": None, "harmful_response": False, "toxic_assistant": False, "preference_margin": None}


class Scorer:
    """Scores records with one QualityConfig. Build with get_scorer(); reuse across batches."""

    def __init__(self, cfg: QualityConfig):
        from lakehouse.safety import LexiconSafetyChecker, get_safety_checker, load_safety_config

        self.cfg = cfg
        self.lex = Lexicon(cfg.lexicon)
        self.safety_cfg = load_safety_config()
        self.safety = get_safety_checker(self.safety_cfg)
        self.lexicon_safety = self.safety if isinstance(self.safety, LexiconSafetyChecker) else None
        self.crisis_kinds = {c.name for c in self.safety_cfg.categories if c.kind == "crisis"}
        self.embedder = None
        if cfg.embeddings:
            from .embed import get_embedder

            self.embedder = get_embedder(cfg.section("model"))
        rel = cfg.section("relevance")
        emb = rel.get("embedding") or {}
        self.rel_low, self.rel_high = float(emb.get("low", 0.05)), float(emb.get("high", 0.45))
        self.rel_sat = float((rel.get("lexical") or {}).get("saturation", 3))
        self.short_words = int(rel.get("short_turn_words", 8))
        self.cont_floor = float(rel.get("continuation_floor", 0.8))
        self.cont_cos = float(rel.get("continuation_cos", 0.10))
        self.backends = None
        if cfg.section("backends"):
            from .backends import build_backends

            self.backends = build_backends(cfg.section("backends"))

    # ------------------------------------------------------------------ per text
    def _analyse(self, texts: set[str]) -> tuple[dict[str, TurnFeatures], dict[str, np.ndarray], dict[str, Any]]:
        order = sorted(texts)
        feats = {t: self.lex.features(t) for t in order}
        vecs: dict[str, np.ndarray] = {}
        if self.embedder is not None and order:
            mat = self.embedder.embed(order)
            vecs = {t: mat[i].astype(np.float64) for i, t in enumerate(order)}
        flags = dict(zip(order, self.safety.check(order))) if order else {}
        return feats, vecs, flags

    # ------------------------------------------------------------------ relevance
    def _rel(self, a: str, b: str, feats: Mapping[str, TurnFeatures], vecs: Mapping[str, np.ndarray]) -> float:
        if vecs:
            cos = float(np.dot(vecs[a], vecs[b]))
            return _clip((cos - self.rel_low) / (self.rel_high - self.rel_low))
        shared = len(feats[a].stems & feats[b].stems)
        return _clip(shared / self.rel_sat)

    def _rel_topic(self, a: str, users: list[str], feats: Mapping[str, TurnFeatures],
                   vecs: Mapping[str, np.ndarray]) -> float:
        if not users:
            return 0.0
        if vecs:
            c = np.sum([vecs[u] for u in users], axis=0)
            n = float(np.linalg.norm(c))
            if n == 0:
                return 0.0
            cos = float(np.dot(vecs[a], c / n))
            return _clip((cos - self.rel_low) / (self.rel_high - self.rel_low))
        stems = frozenset().union(*(feats[u].stems for u in users))
        return _clip(len(feats[a].stems & stems) / self.rel_sat)

    def _continues(self, a: str, before: list[str], feats: Mapping[str, TurnFeatures],
                   vecs: Mapping[str, np.ndarray]) -> bool:
        """A reply to a short social turn stays in the conversation: some similarity to an earlier
        turn (cosine >= continuation_cos, or a shared content word), or an empathic cue."""
        f = feats[a]
        if f.er_strong or f.ip_strong or f.ex_strong:
            return True
        if vecs:
            return any(float(np.dot(vecs[a], vecs[b])) >= self.cont_cos for b in before)
        return any(f.stems & feats[b].stems for b in before)

    def _answers_crisis(self, a: str, u: str, feats: Mapping[str, TurnFeatures], flags: Mapping[str, Any]) -> bool:
        """The client turn discloses a crisis and the reply acknowledges or addresses it."""
        if not any(c in self.crisis_kinds for c in getattr(flags.get(u), "categories", [])):
            return False
        f = feats[a]
        return bool(f.acknowledge or f.safety or f.resources) and not (f.dismissal or f.disengage)

    # ------------------------------------------------------------------ conversation
    def _mechanism(self, strong: int, weak: int, spec: float) -> float:
        e = self.cfg.section("empathy")
        if strong:
            base = float(e.get("strong", 0.75)) + float(e.get("extra_hit", 0.1)) * min(2, strong - 1)
        elif weak:
            base = float(e.get("weak", 0.4))
        else:
            return 0.0
        return _clip(base + float(e.get("specificity", 0.25)) * spec)

    def score_conversation(self, turns: Turns, feats: Mapping[str, TurnFeatures], vecs: Mapping[str, np.ndarray],
                           flags: Mapping[str, Any]) -> dict[str, Any]:
        out = empty_scores()
        ecfg, ccfg = self.cfg.section("empathy"), self.cfg.section("coherence")
        users = [t for r, t in turns if r == "user"]
        pairs: list[tuple[int, str | None, str]] = []   # (turn index, answered user text, reply)
        last_user: str | None = None
        prev_asst: str | None = None
        rel_turn: list[float] = []
        rel_topic: list[float] = []
        mech_sum = dict.fromkeys(MECHANISMS, 0.0)
        emp_sum = w_sum = 0.0
        replies: dict[int, dict[str, float]] = {}
        for i, (role, text) in enumerate(turns):
            if role == "user":
                last_user = text
                continue
            pairs.append((i, last_user, text))
            f = feats[text]
            if last_user is None:
                prev_asst = text
                continue
            u = feats[last_user]
            r = self._rel(text, last_user, feats, vecs)
            topic = self._rel_topic(text, users, feats, vecs)
            if u.words <= self.short_words:   # "ok, I'll try": judged against the conversation so far
                ctx = [topic] + ([self._rel(text, prev_asst, feats, vecs)] if prev_asst is not None else [])
                r = max([r] + ctx)
                if self._continues(text, [t for _, t in turns[:i]], feats, vecs):
                    r = topic = max(r, topic, self.cont_floor)
            elif self._answers_crisis(text, last_user, feats, flags):
                r = topic = max(r, topic, self.cont_floor)   # acknowledging a disclosure is on topic
            rel_turn.append(r)
            rel_topic.append(topic)
            mirror = 1.0 if f.emotions & u.emotions else 0.0
            er = self._mechanism(f.er_strong, f.er_weak, r)
            ip = self._mechanism(f.ip_strong, f.ip_weak, max(r, mirror))
            ex = self._mechanism(f.ex_strong, f.ex_weak, r)
            if f.dismissal:
                er, ip, ex = 0.0, 0.0, ex * 0.5
            emp = _clip((er + ip + ex) / float(ecfg.get("saturation", 2.0)))
            min_w = float(ecfg.get("min_turn_weight", 0.1))
            w = min_w + (1 - min_w) * min(1.0, len(u.emotions) / float(ecfg.get("emotion_saturation", 1)))
            for k, v in zip(MECHANISMS, (er, ip, ex)):
                mech_sum[k] += w * v
            emp_sum += w * emp
            w_sum += w
            replies[i] = {"er": er, "ip": ip, "rel": r}
            prev_asst = text
        if w_sum > 0:
            out["empathy"] = emp_sum / w_sum
            for k in MECHANISMS:
                out[k] = mech_sum[k] / w_sum
        if rel_turn:
            tw, pw = float(ccfg.get("turn_weight", 0.7)), float(ccfg.get("topic_weight", 0.3))
            out["coherence"] = (tw * float(np.mean(rel_turn)) + pw * float(np.mean(rel_topic))) / (tw + pw)
        asst = [t for r, t in turns if r == "assistant"]
        if asst:
            out["reasoning_completeness"] = self._reasoning([feats[t] for t in asst])
        out["harmful_response"] = any(feats[t].means or feats[t].encouragement or feats[t].dismissal for t in asst)
        out["toxic_assistant"] = any(getattr(flags.get(t), "toxicity", False) for t in asst)
        self._crisis(turns, feats, vecs, flags, replies, out)
        return out

    def _reasoning(self, fs: list[TurnFeatures]) -> float:
        rc = self.cfg.section("reasoning")
        w = rc.get("weights") or {}
        steps, evidence = sum(f.steps for f in fs), sum(f.evidence for f in fs)
        sentences = sum(f.sentences for f in fs)
        s = min(1.0, steps / float(rc.get("steps_saturation", 3)))
        if sentences >= 5:
            s = max(s, 0.5)
        e = min(1.0, evidence / float(rc.get("evidence_saturation", 2)))
        c = 1.0 if any(f.conclusion for f in fs) else (0.3 if sentences >= 3 else 0.0)
        ws, we, wc = float(w.get("steps", 0.35)), float(w.get("evidence", 0.35)), float(w.get("conclusion", 0.3))
        return (ws * s + we * e + wc * c) / (ws + we + wc)

    def _crisis(self, turns: Turns, feats: Mapping[str, TurnFeatures], vecs: Mapping[str, np.ndarray],
                flags: Mapping[str, Any], replies: Mapping[int, Mapping[str, float]], out: dict[str, Any]) -> None:
        pol = self.safety_cfg.policy
        hc = self.cfg.section("crisis_handling")
        w = {k: float(v) for k, v in (hc.get("weights") or {}).items()}
        n_follow = int(hc.get("followup_turns", 2))
        cats_all: set[str] = set()
        handled: list[float] = []
        for i, (role, text) in enumerate(turns):
            if role not in pol.crisis_roles:
                continue
            cats = {c for c in getattr(flags.get(text), "categories", []) if c in self.crisis_kinds}
            if not cats:
                continue
            cats_all |= cats
            after = [j for j in range(i + 1, len(turns)) if turns[j][0] == "assistant"][:n_follow]
            if not after:
                continue
            first = feats[turns[after[0]][1]]
            fr = replies.get(after[0], {})
            rs = [feats[turns[j][1]] for j in after]
            named = {c for c in getattr(flags.get(turns[after[0]][1]), "categories", []) if c in self.crisis_kinds}
            ack = 1.0 if (first.acknowledge or named or fr.get("er", 0) >= 0.5 or fr.get("ip", 0) >= 0.5) else 0.0
            safety = 1.0 if any(f.safety for f in rs) else 0.0
            if any(f.resources for f in rs):
                resources = 1.0
            elif any(f.professional for f in rs):
                resources = float(hc.get("professional_credit", 0.5))
            else:
                resources = 0.0
            if first.disengage or first.dismissal:
                engaged = 0.0
            else:
                rel = self._rel(turns[after[0]][1], text, feats, vecs)
                engaged = 1.0 if (rel >= 0.3 or first.ex_strong or first.ex_weak) else 0.5
            score = (w.get("acknowledge", 0.25) * ack + w.get("safety", 0.25) * safety
                     + w.get("resources", 0.25) * resources + w.get("engaged", 0.25) * engaged)
            current = set(self.lexicon_safety.current_categories(text)) if self.lexicon_safety else cats
            if current & set(pol.acute_categories) and not safety and not resources:
                score = min(score, float(hc.get("acute_cap", 0.45)))
            if any(f.dismissal or f.means or f.encouragement for f in rs):
                score = 0.0
            handled.append(score)
        out["crisis_disclosure"] = bool(cats_all)
        out["crisis_categories"] = sorted(cats_all)
        out["crisis_handling"] = min(handled) if handled else None

    def _quality(self, s: Mapping[str, Any]) -> float:
        w = self.cfg.section("preference").get("weights") or {}
        if s["harmful_response"] or s["toxic_assistant"]:
            safe = 0.0
        else:
            safe = s["crisis_handling"] if s["crisis_handling"] is not None else 1.0
        we, wc, ws = float(w.get("empathy", 0.35)), float(w.get("coherence", 0.3)), float(w.get("safety", 0.35))
        return (we * (s["empathy"] or 0.0) + wc * (s["coherence"] or 0.0) + ws * safe) / (we + wc + ws)

    # ------------------------------------------------------------------ records
    def score_records(self, records: Sequence[Record]) -> list[dict[str, Any]]:
        """One flat score dict per record (SCORE_FIELDS), rounded to 3 decimals."""
        convs: list[tuple[Turns | None, Turns | None]] = []
        texts: set[str] = set()
        for rec in records:
            if rec.kind == "sft":
                main, alt = _turns(rec.messages), None
            elif rec.kind == "preference":
                main, alt = _turns(rec.prompt, rec.chosen), _turns(rec.prompt, rec.rejected)
            else:
                main, alt = None, None
            convs.append((main, alt))
            for t in (main or []) + (alt or []):
                texts.add(t[1])
        feats, vecs, flags = self._analyse(texts)
        out: list[dict[str, Any]] = []
        for rec, (main, alt) in zip(records, convs):
            if main is None:
                s = empty_scores()
            else:
                s = self.score_conversation(main, feats, vecs, flags)
                if alt is not None:
                    s["preference_margin"] = self._quality(s) - self._quality(self.score_conversation(alt, feats, vecs, flags))
            out.append(s)
        if self.backends:
            self.backends.apply(records, out)
        for s in out:
            for k, v in s.items():
                if isinstance(v, float):
                    s[k] = _r3(v)
        return out


@functools.lru_cache(maxsize=4)
def _scorer_for(config_json: str, path: str | None) -> Scorer:
    return Scorer(load_quality_config(path, **json.loads(config_json)))


def get_scorer(config_path: str | None = None, **overrides: Any) -> Scorer:
    """The process-wide Scorer for this config (lexicons compiled and the model loaded once)."""
    return _scorer_for(json.dumps(overrides, sort_keys=True, default=str), config_path)


ScoreFn = Callable[[Sequence[Record]], list[dict[str, Any]]]
