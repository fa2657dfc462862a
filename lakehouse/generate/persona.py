"""A voice persona from talk or lecture transcripts (plain text, .srt, .vtt; local or s3://).

    report = build_persona("host", ["talks/ep1.vtt", "s3://bucket/talks/ep2.srt"], "personas/")
    voice_consistency("Some text...", json.load(open("personas/host_profile.json")))   # 0..1

Writes to the output folder:
- ``<name>_profile.json``: vocabulary and signature phrases, sentence-length distribution, question and
  second-person rates, hedges, metaphor and teaching patterns, emotional expression and Big Five
  personality markers from the documented lexicon in lakehouse/config/persona.yml, each with counts;
  plus the reference statistics ``voice_consistency`` needs (so scoring reads nothing else);
- ``<name>_pretrain.jsonl``: ``{"text", "metadata"}`` chunks of the speaker's words only, boilerplate
  (stage directions, music, sponsor reads, channel housekeeping) removed;
- ``<name>_dialogue.jsonl``: ChatML pairs. The question is one of the transcript's own rhetorical
  questions, or written by the model (``--model``); the answer is the transcript passage itself,
  whole sentences, verbatim or trimmed, never generated. ``metadata.source_chunk_id`` is shared by
  every pair (and the pretraining chunk) derived from one source chunk, so they can share a dedup
  cluster.

Text matching folds curly apostrophes and compares lowercase whole words.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lakehouse.generate import GENERATOR_VERSION, GeneratorError

GENERATOR = "lakehouse.generate.persona"
PROFILE_FORMAT = "lakehouse-persona/1"
TRANSCRIPT_EXTS = (".txt", ".srt", ".vtt")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


# -- configuration ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _load_config(path: str | None) -> tuple[dict[str, Any], str]:
    import yaml

    from lakehouse.config import config_path

    text = Path(path).read_text(encoding="utf-8") if path else config_path("persona.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}

    def check(x: Any, where: str) -> None:  # YAML 1.1 reads bare no/on/off/true as booleans: quote them
        if isinstance(x, dict):
            for k, v in x.items():
                check(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                if isinstance(v, bool):
                    raise GeneratorError(f"persona.yml: {where}[{i}] is a boolean ({v}): quote the word")
                check(v, f"{where}[{i}]")

    check(raw, "persona")
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return raw, digest


def persona_config(path: str | None = None) -> dict[str, Any]:
    return _load_config(path)[0]


def lexicon_hash(path: str | None = None) -> str:
    return _load_config(path)[1]


# -- text primitives (pure) ---------------------------------------------------------------------------
def fold(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text).lower())


def normalize_ws(text: str) -> str:
    return " ".join(text.split())


_SENT_END = re.compile(r"[.!?]+[\"')\]\u201d\u2019]*(?=\s|$)")
_PREV_TOKEN = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str, abbreviations: Iterable[str] = ()) -> list[str]:
    """Sentences of a whitespace-normalised text, split at . ! ? before whitespace and a capital, digit
    or quote, never after a listed abbreviation or a single initial."""
    abbrevs = {a.lower().rstrip(".") for a in abbreviations}
    out: list[str] = []
    start = 0
    for m in _SENT_END.finditer(text):
        end = m.end()
        punct = m.group()
        if punct.startswith(".") and punct.rstrip("\"')]\u201d\u2019") == ".":
            prev = _PREV_TOKEN.search(text, start, m.start())
            if prev:
                tok = prev.group(1)
                if tok.lower().rstrip(".") in abbrevs or (len(tok) == 1 and tok.isupper()):
                    continue
        nxt = text[end:end + 3].lstrip()[:1]
        if nxt and not (nxt.isupper() or nxt.isdigit() or nxt in "\"'\u201c\u2018([\u00bf\u00a1"):
            continue
        s = text[start:end].strip()
        if s:
            out.append(s)
        start = end
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)))


def _term_counts(tokens: Sequence[str], terms: Iterable[str]) -> dict[str, int]:
    """Whole-word counts of single- and multi-word terms in a token list."""
    by_n: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for t in dict.fromkeys(terms):
        toks = tuple(words(t))
        if toks:
            by_n.setdefault(len(toks), []).append((t, toks))
    out: dict[str, int] = {}
    for n, items in by_n.items():
        grams = Counter(_ngrams(tokens, n))
        for t, toks in items:
            c = grams.get(toks, 0)
            if c:
                out[t] = c
    return out


def _counted(tokens: Sequence[str], terms: Iterable[str]) -> dict[str, Any]:
    c = _term_counts(tokens, terms)
    total = sum(c.values())
    return {"count": total, "rate_per_1000_words": round(1000 * total / max(1, len(tokens)), 3),
            "items": [{"term": t, "count": n} for t, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]}


# -- reading transcripts ----------------------------------------------------------------------------
_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}.*$")
_TAG = re.compile(r"<[^>]{0,200}>|\{\\[^}]{0,100}\}")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]{1,60})>")


@dataclass
class Transcript:
    uri: str
    name: str
    sha256: str
    bytes: int
    format: str
    segments: list[str]                 # whitespace-normalised runs of the speaker's words (verbatim)
    removed: dict[str, int] = field(default_factory=dict)   # what was taken out, in characters

    @property
    def text(self) -> str:
        return "\n\n".join(self.segments)


def _is_subtitle(name: str, text: str) -> str | None:
    low = name.lower()
    if low.endswith(".vtt") or text.lstrip("\ufeff").startswith("WEBVTT"):
        return "vtt"
    if low.endswith(".srt") or any(_TIMING.match(line) for line in text.splitlines()[:20]):
        return "srt"
    return None


def _subtitle_blocks(text: str, fmt: str) -> list[tuple[str | None, str]]:
    """(speaker, text) per cue, timestamps/numbers/headers/NOTE blocks removed, rolling repeats dropped."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    out: list[tuple[str | None, str]] = []
    last_line = ""
    for b in blocks:
        lines = [ln for ln in b.split("\n") if ln.strip()]
        if not lines:
            continue
        head = lines[0].strip()
        if fmt == "vtt" and (head.startswith("WEBVTT") or head.startswith(("NOTE", "STYLE", "REGION"))):
            continue
        body: list[str] = []
        timed = False
        for ln in lines:
            if _TIMING.match(ln):
                timed = True
                continue
            if not timed:
                continue  # cue number or cue identifier before the timing line
            body.append(ln)
        if not timed:
            continue
        speaker = None
        cleaned: list[str] = []
        for ln in body:
            v = _VOICE.search(ln)
            if v:
                speaker = v.group(1).strip()
            t = normalize_ws(_TAG.sub("", ln))
            if t:
                cleaned.append(t)
        while cleaned and cleaned[0] == last_line:
            cleaned.pop(0)  # rolling captions repeat the previous cue's last line
        if not cleaned:
            continue
        last_line = cleaned[-1]
        if out and out[-1][0] == speaker:
            out[-1] = (speaker, out[-1][1] + " " + " ".join(cleaned))  # one speaker's run of cues is one block
        else:
            out.append((speaker, " ".join(cleaned)))
    return out


def _text_blocks(text: str, label_re: re.Pattern[str] | None) -> list[tuple[str | None, str]]:
    """Plain text: paragraphs; with a label pattern, "NAME: ..." lines start a new speaker's block."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if label_re is None:
        return [(None, p) for p in re.split(r"\n\s*\n", text) if p.strip()]
    out: list[tuple[str | None, str]] = []
    speaker: str | None = None
    buf: list[str] = []
    for line in text.split("\n"):
        m = label_re.match(line)
        if m:
            if buf:
                out.append((speaker, "\n".join(buf)))
            speaker, buf = m.group("label").strip(), [line[m.end():]]
        elif not line.strip():
            if buf:
                out.append((speaker, "\n".join(buf)))
            buf = []
        else:
            buf.append(line)
    if buf:
        out.append((speaker, "\n".join(buf)))
    return out


def _boilerplate_res(cfg: Mapping[str, Any]) -> tuple[re.Pattern[str], re.Pattern[str], list[re.Pattern[str]]]:
    bp = cfg.get("boilerplate") or {}
    stage = re.compile(str(bp.get("stage_directions") or r"(?!x)x"), re.IGNORECASE)
    music = re.compile(str(bp.get("music") or r"(?!x)x"), re.IGNORECASE)
    sents = [re.compile(str(p), re.IGNORECASE) for p in bp.get("sentences") or []]
    return stage, music, sents


def clean_blocks(blocks: Sequence[tuple[str | None, str]], cfg: Mapping[str, Any], speaker: str | None = None
                 ) -> tuple[list[str], dict[str, int]]:
    """The speaker's segments: other speakers dropped, stage directions and music cut (each cut ends a
    segment), boilerplate sentences removed (also ending a segment), whitespace normalised."""
    stage, music, sent_res = _boilerplate_res(cfg)
    abbrevs = (cfg.get("text") or {}).get("abbreviations") or ()
    removed: Counter[str] = Counter()
    segments: list[str] = []
    want = speaker.lower() if speaker else None
    for who, text in blocks:
        if want is not None and (who or "").lower() != want:
            removed["other_speaker"] += len(text)
            continue
        for name, rx in (("stage_directions", stage), ("music", music)):
            text, n = rx.subn(lambda m: removed.update({name: len(m.group())}) or "\n\n", text)  # type: ignore[func-returns-value]
        for part in re.split(r"\n\s*\n", text):
            part = normalize_ws(part)
            if not part:
                continue
            keep: list[str] = []
            for s in split_sentences(part, abbrevs):
                if any(rx.search(s) for rx in sent_res):
                    removed["boilerplate_sentences"] += len(s)
                    if keep:
                        segments.append(" ".join(keep))
                    keep = []
                    continue
                keep.append(s)
            if keep:
                segments.append(" ".join(keep))
    return segments, dict(removed)


def _expand(inputs: Sequence[str]) -> list[str]:
    """Files, folders (their .txt/.srt/.vtt files) and s3:// objects or prefixes, in order, each once."""
    from lakehouse.storage import Storage, split_s3_uri

    out: list[str] = []
    for spec in inputs:
        if spec.startswith("s3://"):
            if spec.lower().endswith(TRANSCRIPT_EXTS):
                out.append(spec)
                continue
            storage = Storage.from_env()
            bucket, prefix = split_s3_uri(spec.rstrip("/"))
            keys: list[str] = []
            for page in storage.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else ""):
                keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(TRANSCRIPT_EXTS)]
            if not keys:
                raise GeneratorError(f"{spec}: no .txt/.srt/.vtt objects under this prefix")
            out += [f"s3://{bucket}/{k}" for k in sorted(keys)]
            continue
        p = Path(spec).expanduser()
        if p.is_dir():
            files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(TRANSCRIPT_EXTS))
            if not files:
                raise GeneratorError(f"{spec}: no .txt/.srt/.vtt files in this folder")
            out += files
        elif p.is_file():
            out.append(str(p.resolve()))
        else:
            raise GeneratorError(f"{spec}: no such file or folder")
    return list(dict.fromkeys(out))


def read_transcript(uri: str, cfg: Mapping[str, Any], speaker: str | None = None) -> Transcript:
    if uri.startswith("s3://"):
        from lakehouse.storage import Storage

        data = Storage.from_env().read_bytes(uri)
    else:
        data = Path(uri).read_bytes()
    text = data.decode("utf-8", errors="replace")
    name = uri.rsplit("/", 1)[-1]
    fmt = _is_subtitle(name, text)
    if fmt:
        blocks = _subtitle_blocks(text, fmt)
    else:
        label = (cfg.get("transcripts") or {}).get("speaker_label")
        blocks = _text_blocks(text, re.compile(str(label)) if speaker and label else None)
    segments, removed = clean_blocks(blocks, cfg, speaker)
    return Transcript(uri=uri, name=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                      format=fmt or "txt", segments=segments, removed=removed)


# -- chunks -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    transcript: int          # index into the transcript list
    index: int               # chunk number within the transcript
    sentences: tuple[tuple[int, str], ...]   # (segment index, sentence)

    @property
    def text(self) -> str:
        return " ".join(s for _, s in self.sentences)


def make_chunks(transcripts: Sequence[Transcript], cfg: Mapping[str, Any]) -> list[Chunk]:
    ch = cfg.get("chunking") or {}
    target, minimum = int(ch.get("chunk_chars", 2000)), int(ch.get("min_chunk_chars", 200))
    abbrevs = (cfg.get("text") or {}).get("abbreviations") or ()
    out: list[Chunk] = []
    for ti, t in enumerate(transcripts):
        groups: list[list[tuple[int, str]]] = []
        cur: list[tuple[int, str]] = []
        size = 0
        for si, seg in enumerate(t.segments):
            for s in split_sentences(seg, abbrevs):
                if cur and size + 1 + len(s) > target:
                    groups.append(cur)
                    cur, size = [], 0
                cur.append((si, s))
                size += len(s) + (1 if size else 0)
        if cur:
            if groups and size < minimum:
                groups[-1] += cur
            else:
                groups.append(cur)
        for k, g in enumerate(groups):
            cid = hashlib.sha256(f"{t.sha256}:{k}:{len(g)}:{g[0][1][:64]}".encode()).hexdigest()[:16]
            out.append(Chunk(chunk_id=cid, transcript=ti, index=k, sentences=tuple(g)))
    return out


# -- profile --------------------------------------------------------------------------------------------
def _percentile(sorted_vals: Sequence[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    i = (len(sorted_vals) - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    return float(sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (i - lo))


def _windows(tokens: Sequence[str], size: int) -> list[Sequence[str]]:
    return [tokens[i:i + size] for i in range(0, max(0, len(tokens) - size + 1), size)] or ([tokens] if tokens else [])


@dataclass(frozen=True)
class _Features:
    tokens: list[str]
    sentences: list[str]
    sentence_lengths: list[int]
    questions: int
    second_person: int
    hedges: int
    teaching: int
    metaphors: int


def _features(sentences: Sequence[str], cfg_lex: Mapping[str, Any]) -> _Features:
    toks: list[str] = []
    lengths: list[int] = []
    for s in sentences:
        w = words(s)
        toks += w
        if w:
            lengths.append(len(w))
    sp = set(cfg_lex.get("second_person") or ())
    return _Features(
        tokens=toks, sentences=list(sentences), sentence_lengths=lengths,
        questions=sum(1 for s in sentences if s.rstrip("\"')]\u201d\u2019").endswith("?")),
        second_person=sum(1 for t in toks if t in sp),
        hedges=sum(_term_counts(toks, cfg_lex.get("hedges") or ()).values()),
        teaching=sum(_term_counts(toks, cfg_lex.get("teaching_markers") or ()).values()),
        metaphors=sum(_term_counts(toks, cfg_lex.get("metaphor_markers") or ()).values()),
    )


def _style_vector(tokens: Sequence[str], vocab: Sequence[str]) -> list[float]:
    c = Counter(tokens)
    n = max(1, len(tokens))
    return [c.get(w, 0) / n for w in vocab]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb) if na and nb else 0.0


REF_LENGTHS = (10, 25, 50, 100, 200, 400)


def _ref_at(refs: Mapping[str, float], n: int) -> float:
    """The speaker's expected value for a text of n words, interpolated in log length."""
    pts = sorted((int(k), float(v)) for k, v in refs.items())
    if not pts:
        return 1.0
    if n <= pts[0][0]:
        return pts[0][1]
    for (l0, v0), (l1, v1) in zip(pts, pts[1:]):
        if n <= l1:
            t = (math.log(n) - math.log(l0)) / (math.log(l1) - math.log(l0))
            return v0 + t * (v1 - v0)
    return pts[-1][1]


def build_profile(name: str, transcripts: Sequence[Transcript], cfg: Mapping[str, Any], *,
                  display_name: str | None = None, speaker: str | None = None) -> dict[str, Any]:
    pc = cfg.get("profile") or {}
    abbrevs = (cfg.get("text") or {}).get("abbreviations") or ()
    stop = set(cfg.get("stopwords") or ())
    sentences = [s for t in transcripts for seg in t.segments for s in split_sentences(seg, abbrevs)]
    f = _features(sentences, cfg)
    toks = f.tokens
    n = len(toks)
    if n < 50:
        raise GeneratorError(f"persona {name}: only {n} words of the speaker's text after cleaning (need at least 50)")
    content = [t for t in toks if t not in stop and len(t) > 1]
    cc = Counter(content)
    top_words = [{"word": w, "count": c} for w, c in sorted(cc.items(), key=lambda kv: (-kv[1], kv[0]))[: int(pc.get("top_words", 100))]]
    vocab_words = [w for w, _ in sorted(cc.items(), key=lambda kv: (-kv[1], kv[0]))[: int(pc.get("vocabulary_size", 2000))]]

    # signature phrases: frequent n-grams that do not start or end with a stopword
    sig: Counter[str] = Counter()
    for s in sentences:
        w = words(s)
        for k in pc.get("signature_ngram_sizes") or (2, 3, 4):
            for g in _ngrams(w, int(k)):
                if g[0] in stop or g[-1] in stop:
                    continue
                sig[" ".join(g)] += 1
    min_c = int(pc.get("signature_min_count", 3))
    phrases = [(p, c) for p, c in sig.items() if c >= min_c]
    # longer phrases first when equally frequent; drop a phrase contained in a kept one with the same count
    phrases.sort(key=lambda pc_: (-pc_[1], -len(pc_[0].split()), pc_[0]))
    kept: list[tuple[str, int]] = []
    for p, c in phrases:
        if any(c == kc and f" {p} " in f" {kp} " for kp, kc in kept):
            continue
        kept.append((p, c))
        if len(kept) >= int(pc.get("signature_phrases", 40)):
            break

    lengths = sorted(f.sentence_lengths)
    bins = [int(b) for b in pc.get("histogram_bins") or (1, 6, 11, 16, 21, 26, 31, 41, 61)]
    hist: dict[str, int] = {}
    for i, lo in enumerate(bins):
        hi = bins[i + 1] - 1 if i + 1 < len(bins) else None
        label = f"{lo}-{hi}" if hi is not None else f"{lo}+"
        hist[label] = sum(1 for x in lengths if x >= lo and (hi is None or x <= hi))

    personality = (cfg.get("personality") or {}).get("categories") or {}
    markers: dict[str, Any] = {}
    traits: dict[str, dict[str, Any]] = {}
    for cat, spec in personality.items():
        m = _counted(toks, spec.get("words") or ())
        m["traits"] = dict(spec.get("traits") or {})
        markers[cat] = m
        for trait, direction in m["traits"].items():
            t = traits.setdefault(trait, {"index": 0.0, "evidence": []})
            t["index"] += float(direction) * m["rate_per_1000_words"]
            t["evidence"].append({"category": cat, "direction": int(direction), "rate_per_1000_words": m["rate_per_1000_words"]})
    for t in traits.values():
        t["index"] = round(t["index"], 3)

    # reference statistics for voice_consistency, from the speaker's own windows
    window = int(pc.get("window_words", 200))
    overall = Counter(toks)
    style_words = [w for w, _ in sorted(overall.items(), key=lambda kv: (-kv[1], kv[0]))[: int(pc.get("style_words", 120))]]
    wins = _windows(toks, window)
    mean = _style_vector(toks, style_words)
    cos_ref: dict[str, float] = {}
    for length in REF_LENGTHS:
        ws = _windows(toks, length)
        if len(ws) < 3:
            continue
        step = max(1, len(ws) // 200)  # at most ~200 windows per length, evenly spaced
        cos_ref[str(length)] = round(statistics.fmean(_cosine(_style_vector(w, style_words), mean) for w in ws[::step]), 4)
    vocab_set = set(vocab_words)
    shares = []
    for w in wins:
        cw = [t for t in w if t not in stop and len(t) > 1]
        shares.append(sum(1 for t in cw if t in vocab_set) / max(1, len(cw)))
    sig_rate = 1000 * sum(c for _, c in kept) / n

    cons = cfg.get("consistency") or {}
    return {
        "format": PROFILE_FORMAT,
        "name": name,
        "display_name": display_name or name,
        "speaker_filter": speaker,
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "lexicon_hash": None,  # set by the caller (build_persona) from the config file used
        "sources": [{"uri": t.uri, "name": t.name, "sha256": t.sha256, "bytes": t.bytes, "format": t.format,
                     "speaker_chars": sum(len(s) for s in t.segments), "removed_chars": dict(sorted(t.removed.items()))}
                    for t in transcripts],
        "totals": {"words": n, "sentences": len(sentences), "transcripts": len(transcripts)},
        "vocabulary": {"tokens": n, "types": len(overall), "type_token_ratio": round(len(overall) / n, 4),
                       "mean_types_per_window": round(statistics.fmean(len(set(w)) for w in wins), 2),
                       "window_words": window,
                       "long_word_share": round(sum(1 for t in toks if len(t) > 6) / n, 4),
                       "top_words": top_words},
        "signature_phrases": [{"phrase": p, "count": c} for p, c in kept],
        "sentence_length": {"count": len(lengths), "mean": round(statistics.fmean(lengths), 3) if lengths else 0.0,
                            "std": round(statistics.pstdev(lengths), 3) if len(lengths) > 1 else 0.0,
                            "median": _percentile(lengths, 0.5), "p10": _percentile(lengths, 0.1),
                            "p25": _percentile(lengths, 0.25), "p75": _percentile(lengths, 0.75),
                            "p90": _percentile(lengths, 0.9), "histogram": hist},
        "questions": {"count": f.questions, "rate": round(f.questions / max(1, len(sentences)), 4)},
        "second_person": {"count": f.second_person, "rate_per_1000_words": round(1000 * f.second_person / n, 3),
                          "sentence_share": round(sum(1 for s in sentences if set(words(s)) & set(cfg.get("second_person") or ())) / max(1, len(sentences)), 4)},
        "hedges": _counted(toks, cfg.get("hedges") or ()),
        "metaphor_patterns": _counted(toks, cfg.get("metaphor_markers") or ()),
        "teaching_patterns": _counted(toks, cfg.get("teaching_markers") or ()),
        "emotional_expression": {k: {"count": markers[k]["count"], "rate_per_1000_words": markers[k]["rate_per_1000_words"]}
                                 for k in ("positive_emotion", "negative_emotion", "anxiety", "anger") if k in markers},
        "personality_markers": {"lexicon": "lakehouse/config/persona.yml personality (Pennebaker & King 1999; Yarkoni 2010; Mairesse et al. 2007)",
                                "categories": markers, "traits": dict(sorted(traits.items()))},
        "consistency": {
            "weights": dict(cons.get("weights") or {}),
            "stopwords": sorted(stop),
            "second_person": sorted(set(cfg.get("second_person") or ())),
            "hedges": list(cfg.get("hedges") or ()),
            "teaching_markers": list(cfg.get("teaching_markers") or ()),
            "abbreviations": list(abbrevs),
            "style": {"words": style_words, "frequencies": [round(x, 6) for x in mean], "cosine_ref": cos_ref},
            "vocabulary": {"words": vocab_words, "share_ref": round(statistics.fmean(shares), 4) if shares else 1.0},
            "rates": {"question": round(f.questions / max(1, len(sentences)), 5),
                      "second_person": round(f.second_person / n, 5), "hedge": round(f.hedges / n, 5),
                      "teaching": round(f.teaching / n, 5)},
            "signature": {"phrases": [p for p, _ in kept], "rate_ref_per_1000_words": round(sig_rate, 3)},
        },
    }


# -- voice consistency (pure) -------------------------------------------------------------------------
def _closeness(z: float) -> float:
    """1 within one standard error, decaying beyond."""
    return math.exp(-max(0.0, abs(z) - 1.0) / 2.0)


def voice_consistency(text: str, profile: Mapping[str, Any]) -> float:
    """How much ``text`` sounds like the profile's speaker, 0..1 (3 decimals); see voice_components."""
    parts = voice_components(text, profile)
    weights = {k: float(v) for k, v in ((profile.get("consistency") or {}).get("weights") or {}).items()}
    total_w = sum(weights.get(k, 0.0) for k in parts)
    if total_w <= 0:
        return 0.0
    return round(sum(weights.get(k, 0.0) * v for k, v in parts.items()) / total_w, 3)


def voice_components(text: str, profile: Mapping[str, Any]) -> dict[str, float]:
    """How much ``text`` sounds like the profile's speaker, 0..1 (3 decimals). Pure and deterministic:
    reads only ``text`` and ``profile["consistency"]`` and ``profile["sentence_length"]``.

    Components (weights in the profile): style, the cosine between the text's relative frequencies of
    the speaker's most frequent words and the speaker's, over what the speaker's own texts of that
    length reach (short texts match less, for anyone); vocabulary, the share of content words in the speaker's
    vocabulary relative to the speaker's own share; sentence length, the text's mean sentence length
    against the speaker's distribution; rates, question / second-person / hedge / teaching-marker
    rates against the speaker's; signature, the speaker's signature phrases per 1,000 words.
    """
    c = profile.get("consistency") or {}
    toks = words(text)
    if not toks or not c:
        return {}
    n = len(toks)
    stop = set(c.get("stopwords") or ())
    parts: dict[str, float] = {}

    st = c.get("style") or {}
    if st.get("words"):
        cos = _cosine(_style_vector(toks, st["words"]), st["frequencies"])
        parts["style"] = min(1.0, cos / (_ref_at(st.get("cosine_ref") or {}, n) or 1.0))

    vc = c.get("vocabulary") or {}
    content = [t for t in toks if t not in stop and len(t) > 1]
    if vc.get("words") and content:
        vocab = set(vc["words"])
        share = sum(1 for t in content if t in vocab) / len(content)
        parts["vocabulary"] = min(1.0, share / (float(vc.get("share_ref") or 1.0) or 1.0))
    elif vc.get("words"):
        parts["vocabulary"] = 0.0

    sentences = split_sentences(normalize_ws(text), c.get("abbreviations") or ())
    lengths = [len(words(s)) for s in sentences if words(s)]
    sl = profile.get("sentence_length") or {}
    if lengths and sl.get("std"):
        z = (statistics.fmean(lengths) - float(sl["mean"])) / (float(sl["std"]) / math.sqrt(len(lengths)))
        parts["sentence_length"] = _closeness(z)

    rates = c.get("rates") or {}
    rate_scores = []
    sp = set(c.get("second_person") or ())
    observed = {
        "question": (sum(1 for s in sentences if s.rstrip("\"')]").endswith("?")), max(1, len(sentences))),
        "second_person": (sum(1 for t in toks if t in sp), n),
        "hedge": (sum(_term_counts(toks, c.get("hedges") or ()).values()), n),
        "teaching": (sum(_term_counts(toks, c.get("teaching_markers") or ()).values()), n),
    }
    for k, (hits, trials) in observed.items():
        if k not in rates:
            continue
        p = min(max(float(rates[k]), 1e-4), 1 - 1e-4)
        z = (hits / trials - p) / math.sqrt(p * (1 - p) / trials)
        rate_scores.append(_closeness(z))
    if rate_scores:
        parts["rates"] = statistics.fmean(rate_scores)

    sg = c.get("signature") or {}
    ref_rate = float(sg.get("rate_ref_per_1000_words") or 0.0)
    if sg.get("phrases") and ref_rate > 0:
        hits = sum(_term_counts(toks, sg["phrases"]).values())
        parts["signature"] = min(1.0, (1000 * hits / n) / ref_rate)
    return parts


# -- dialogue pairs -------------------------------------------------------------------------------------
def _trim_answer(sentences: Sequence[str], min_chars: int, max_chars: int) -> tuple[str, bool] | None:
    """Whole sentences from the start, up to max_chars; (answer, trimmed) or None when too short."""
    out: list[str] = []
    size = 0
    for s in sentences:
        new = size + (1 if out else 0) + len(s)
        if new > max_chars:
            break
        out.append(s)
        size = new
    ans = " ".join(out)
    if len(ans) < min_chars:
        return None  # too short, or a first sentence longer than the limit (never cut mid-sentence)
    return ans, len(out) < len(sentences)


def rhetorical_pairs(chunk: Chunk, cfg: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(question, answer, trimmed): a question of the speaker's followed, in the same segment, by at least
    min_answer_chars of statements; the answer stops before the next question."""
    dc = cfg.get("dialogue") or {}
    min_c, max_c = int(dc.get("min_answer_chars", 150)), int(dc.get("max_answer_chars", 1200))
    min_q = int(dc.get("min_question_words", 4))
    sents = chunk.sentences
    out = []
    for i, (seg, s) in enumerate(sents):
        if not s.rstrip("\"')]").endswith("?") or len(words(s)) < min_q or "--" in s:
            continue  # not a question, too short, or an interjection ("I--am I right?")
        follow: list[str] = []
        for seg2, s2 in sents[i + 1:]:
            if seg2 != seg or s2.rstrip("\"')]").endswith("?"):
                break
            follow.append(s2)
        got = _trim_answer(follow, min_c, max_c)
        if got:
            out.append((s, got[0], got[1]))
    return out


def passage_for(chunk: Chunk, cfg: Mapping[str, Any]) -> tuple[str, bool] | None:
    """The chunk's opening sentences (one segment), trimmed to max_answer_chars."""
    dc = cfg.get("dialogue") or {}
    first_seg = chunk.sentences[0][0]
    sents = [s for seg, s in chunk.sentences if seg == first_seg]
    got = _trim_answer(sents, int(dc.get("min_answer_chars", 150)), int(dc.get("max_answer_chars", 1200)))
    if got is None:
        return None
    return got[0], got[1] or len(sents) < len(chunk.sentences)


def _first_question(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line.strip(" \"'\u201c\u201d").strip()


# -- build --------------------------------------------------------------------------------------------
@dataclass
class PersonaReport:
    name: str
    profile_path: str
    pretrain_path: str
    dialogue_path: str
    words: int = 0
    chunks: int = 0
    pairs_rhetorical: int = 0
    pairs_model: int = 0
    pairs_resumed: int = 0
    model_questions_empty: int = 0
    mean_voice_consistency: float | None = None
    removed_chars: dict[str, int] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict, repr=False)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build_persona(name: str, inputs: Sequence[str], output_dir: str, *, model: Any = None, seed: int = 0,
                  questions_per_chunk: int | None = None, speaker: str | None = None,
                  display_name: str | None = None, config_path: str | None = None,
                  progress: bool = False) -> PersonaReport:
    """Read the transcripts and write the profile, the pretraining chunks and the dialogue pairs."""
    from lakehouse.generate.edge_cases import canonical_hash
    from lakehouse.generate.model import derive_seed
    from lakehouse.generate.runio import Progress, ResumableOutput

    if not _NAME.match(name or ""):
        raise GeneratorError(f"--name {name!r}: letters, digits, _ and - only (it names the output files)")
    if output_dir.startswith("s3://"):
        raise GeneratorError("--output must be a local folder (land or copy the files to S3 afterwards)")
    cfg = persona_config(config_path)
    lex_hash = lexicon_hash(config_path)
    uris = _expand(inputs)
    transcripts = [read_transcript(u, cfg, speaker) for u in uris]
    profile = build_profile(name, transcripts, cfg, display_name=display_name, speaker=speaker)
    profile["lexicon_hash"] = lex_hash
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    report = PersonaReport(name=name, profile_path=str(out / f"{name}_profile.json"),
                           pretrain_path=str(out / f"{name}_pretrain.jsonl"),
                           dialogue_path=str(out / f"{name}_dialogue.jsonl"), words=profile["totals"]["words"],
                           profile=profile)
    for t in transcripts:
        for k, v in t.removed.items():
            report.removed_chars[k] = report.removed_chars.get(k, 0) + v
    _atomic_write(Path(report.profile_path), (json.dumps(profile, indent=1, ensure_ascii=False) + "\n").encode())

    chunks = make_chunks(transcripts, cfg)
    report.chunks = len(chunks)
    base_meta = {"persona": name, "persona_display_name": profile["display_name"], "generator": GENERATOR,
                 "generator_version": GENERATOR_VERSION, "lexicon_hash": lex_hash}
    lines = []
    for c in chunks:
        t = transcripts[c.transcript]
        lines.append(json.dumps({"text": c.text, "metadata": {**base_meta, "source_chunk_id": c.chunk_id,
                                 "source_uri": t.uri, "source_sha256": t.sha256, "chunk_index": c.index}},
                                ensure_ascii=False))
    _atomic_write(Path(report.pretrain_path), ("\n".join(lines) + "\n" if lines else "").encode())

    dc = cfg.get("dialogue") or {}
    qpc = questions_per_chunk if questions_per_chunk is not None else (1 if model is not None else 0)
    if qpc and model is None:
        raise GeneratorError("--questions-per-chunk needs --model (a model writes those questions)")
    system = str(dc.get("system_template") or "").format(display_name=profile["display_name"], name=name).strip()
    qprompt = str(dc.get("question_prompt") or "")
    sig: dict[str, Any] = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "persona": name,
                           "lexicon_hash": lex_hash,
                           "sources_hash": canonical_hash({"sources": [t.sha256 for t in transcripts], "speaker": speaker}), "template_hash": canonical_hash({"system": system, "question_prompt": qprompt}),
                           "seed": seed, "model": model.identity["model"] if model else None,
                           "model_hash": model.identity.get("model_hash") if model else None,
                           "model_endpoint": model.identity.get("model_endpoint") if model else None,
                           "sampling": model.sampling.as_dict() if model else None}
    scores: list[float] = []
    if model is None:  # nothing expensive to resume: a rebuild replaces the pairs
        for p in (Path(report.dialogue_path), Path(report.dialogue_path + ".state")):
            p.unlink(missing_ok=True)
    with ResumableOutput(report.dialogue_path, sig) as w, Progress(f"persona {name}", len(chunks), enabled=progress) as prog:
        for c in chunks:
            t = transcripts[c.transcript]
            cmeta = {**sig, "persona_display_name": profile["display_name"], "source_chunk_id": c.chunk_id,
                     "source_uri": t.uri, "source_sha256": t.sha256, "chunk_index": c.index}
            todo: list[tuple[str, str, str, bool]] = []
            for i, (q, a, trimmed) in enumerate(rhetorical_pairs(c, cfg)):
                todo.append((f"{c.chunk_id}:rq{i}", q, a, trimmed))
                report.pairs_rhetorical += 1
            if qpc:
                got = passage_for(c, cfg)
                for k in range(qpc if got else 0):
                    key = f"{c.chunk_id}:mq{k}"
                    if w.has(key):
                        todo.append((key, "", got[0], got[1]))  # type: ignore[index]
                        continue
                    prompt = qprompt.format(display_name=profile["display_name"], passage=got[0])  # type: ignore[index]
                    q = _first_question(model.chat([{"role": "user", "content": prompt}],
                                                   seed=derive_seed(seed, name, c.chunk_id, k)))
                    if not q:
                        report.model_questions_empty += 1
                        w.skip(key, "empty_question")
                        continue
                    todo.append((key, q, got[0], got[1]))  # type: ignore[index]
                    report.pairs_model += 1
            for key, q, a, trimmed in todo:
                if w.has(key):
                    report.pairs_resumed += 1
                    continue
                vc = voice_consistency(a, profile)
                scores.append(vc)
                rec = {"id": f"persona-{name}-" + hashlib.sha256(key.encode()).hexdigest()[:16],
                       "messages": ([{"role": "system", "content": system}] if system else [])
                       + [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                       "metadata": {**cmeta, "generation_key": key,
                                    "question_source": "rhetorical" if ":rq" in key else "model",
                                    "answer_source": "trimmed" if trimmed else "verbatim",
                                    "voice_consistency": vc}}
                w.write(key, rec)
            prog.advance()
    report.mean_voice_consistency = round(statistics.fmean(scores), 3) if scores else None
    return report


def build_dual(specs: Sequence[tuple[str, Sequence[str]]], output_dir: str, *, model: Any = None, seed: int = 0,
               questions_per_chunk: int | None = None, progress: bool = False
               ) -> tuple[list[PersonaReport], str, dict[str, dict[str, float | None]]]:
    """Two personas side by side: each one's files, plus ``dual_<a>_<b>_dialogue.jsonl`` (both sets of
    pairs, tagged by ``metadata.persona``) and ``dual_<a>_<b>_report.json`` with each persona's answers
    scored against both profiles (own > other is what a usable dual set looks like)."""
    if len(specs) != 2 or specs[0][0] == specs[1][0]:
        raise GeneratorError("a dual persona needs two different names")
    reps = [build_persona(n, files, output_dir, model=model, seed=seed, questions_per_chunk=questions_per_chunk,
                          progress=progress) for n, files in specs]
    out = Path(output_dir).expanduser()
    a, b = reps[0].name, reps[1].name
    dual_path = out / f"dual_{a}_{b}_dialogue.jsonl"
    cross: dict[str, dict[str, float | None]] = {}
    lines: list[str] = []
    for rep in reps:
        answers = []
        with open(rep.dialogue_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\n"))
                    answers.append(json.loads(line)["messages"][-1]["content"])
        cross[rep.name] = {other.name: (round(statistics.fmean(voice_consistency(x, other.profile) for x in answers), 3)
                                        if answers else None) for other in reps}
    _atomic_write(dual_path, ("\n".join(lines) + "\n" if lines else "").encode())
    _atomic_write(out / f"dual_{a}_{b}_report.json",
                  (json.dumps({"personas": [a, b], "mean_voice_consistency": cross,
                               "pairs": {r.name: r.pairs_rhetorical + r.pairs_model for r in reps}}, indent=1) + "\n").encode())
    return reps, str(dual_path), cross


def register_profile(profile_path: str, storage: Any = None) -> str:
    """Copy a profile to ``<LAKEHOUSE_ROOT>/personas/<name>_profile.json`` (where the exporter picks it up)."""
    from lakehouse.storage import Storage

    storage = storage or Storage.from_env()
    p = Path(profile_path)
    key = f"personas/{p.name}"
    storage.write_bytes(key, p.read_bytes())
    return storage.uri(key)


def registered_profiles(storage: Any = None) -> list[tuple[str, bytes]]:
    """(``personas/<name>_profile.json``, bytes) of every registered profile under the lakehouse root,
    sorted: the hook for the exporter to copy them into a release and hash them in its manifest."""
    from lakehouse.storage import Storage

    storage = storage or Storage.from_env()
    return [(k, storage.read_bytes(k)) for k in storage.list("personas") if k.endswith("_profile.json")]
