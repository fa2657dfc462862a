"""Redactor: batch PII redaction with consistent per-conversation placeholders.

Analysis (spaCy NER + Presidio recognizers) runs once per distinct message per process: results
are cached under sha256(text) as spans only. Placeholders are assigned afterwards, per scope
(a conversation, or one text), so caching never changes the output. The placeholder mapping
exists only in memory for the duration of one scope; nothing here logs text or PII.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

from .config import PrivacyConfig, PrivacyConfigError, language_stop_words, load_privacy_config
from .findings import (
    Finding,
    PlaceholderScope,
    apply_placeholders,
    count_by_type,
    is_allowed,
    overlaps_placeholder,
    plausible_url,
    propagate,
    resolve_overlaps,
)
from .patterns import PLACEHOLDER_RE
from .policy import CLEAN, pii_status


@dataclass
class RedactionResult:
    """Output for one conversation (``messages``) or one text (``text``)."""

    messages: list[dict[str, Any]] | None
    text: str | None
    pii_status: str
    counts: dict[str, int] = field(default_factory=dict)


def text_key(text: str) -> bytes:
    """Cache key of a message: sha256 of its UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def split_chunks(text: str, max_chars: int) -> list[tuple[int, str]]:
    """(offset, chunk) pieces of at most ~max_chars, cut at the last newline/space before the limit."""
    if len(text) <= max_chars:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    pos = 0
    while pos < len(text):
        end = min(pos + max_chars, len(text))
        if end < len(text):
            cut = max(text.rfind("\n", pos, end), text.rfind(" ", pos, end))
            if cut > pos + max_chars // 2:
                end = cut + 1
        out.append((pos, text[pos:end]))
        pos = end
    return out


# Residual-pass analyses are cached under text_key(RESIDUAL_PREFIX + redacted text): a key no real
# message produces by accident, so persisted caches can hold both kinds.
RESIDUAL_PREFIX = "\x00lakehouse-pii-residual\x00"

PARALLEL_MIN_TEXTS = 256   # fewer uncached texts than this are analysed in-process


def pii_workers() -> int:
    """Analysis processes: LAKEHOUSE_PII_WORKERS = an integer (0 or 1: in-process, the library
    default) or ``auto`` (all cores; the dbt plugin sets it). Workers are spawned, so a script
    that enables them needs the usual ``if __name__ == "__main__":`` guard.

    An execution setting, deliberately not in privacy.yml: it must not change config_hash.
    """
    raw = os.environ.get("LAKEHOUSE_PII_WORKERS", "0").strip().lower()
    if raw in ("", "auto"):
        n = os.cpu_count() or 1
        return n if n > 1 else 0
    try:
        return max(0, int(raw))
    except ValueError as e:
        raise PrivacyConfigError(f"LAKEHOUSE_PII_WORKERS must be an integer or 'auto', got {raw!r}") from e


_WORKER: "Redactor | None" = None


def _worker_init(config: PrivacyConfig) -> None:
    global _WORKER
    _WORKER = Redactor(config)
    _WORKER.engine  # noqa: B018  (load spaCy/Presidio once per worker)


def _worker_analyze(texts: list[str]) -> list[tuple[Finding, ...]]:
    assert _WORKER is not None
    return _WORKER._analyze_uncached(texts)


class Redactor:
    """PII redaction per privacy.yml. Lazy: spaCy and Presidio load on first use. Thread-safe."""

    def __init__(self, config: PrivacyConfig | None = None):
        self.config = config or load_privacy_config()
        self._analyzer: Any = None
        self._cache: OrderedDict[bytes, tuple[Finding, ...]] = OrderedDict()
        self._lock = threading.RLock()
        self._allow_res = [re.compile(p, re.IGNORECASE) for p in self.config.allow_patterns]
        self._protected = (re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in self.config.protected_phrases) + r")\b",
                                      re.IGNORECASE) if self.config.protected_phrases else None)
        self._stop_words: frozenset[str] = frozenset()
        self.stats = {"texts": 0, "cache_hits": 0, "analyzed": 0}
        self._executor: Any = None
        self._executor_workers = 0

    # -- analysis -----------------------------------------------------------------------------
    @property
    def analyzer(self) -> Any:
        """The Presidio AnalyzerEngine (built on first access)."""
        return self.engine.analyzer

    @property
    def stop_words(self) -> frozenset[str]:
        """spaCy's stop words of the configured language (name propagation skips them), read without
        spaCy (:func:`language_stop_words`): applying cached spans never loads the NER model or Presidio."""
        if not self._stop_words:
            self._stop_words = language_stop_words(self.config.language)
        return self._stop_words

    @property
    def engine(self) -> Any:
        """The FastAnalyzer (spaCy NER on gated windows + Presidio pattern recognizers), built on first access."""
        if self._analyzer is None:
            with self._lock:
                if self._analyzer is None:
                    from . import _presidio

                    self._analyzer = _presidio.FastAnalyzer(self.config)
        return self._analyzer

    def _clean(self, text: str, results: Sequence[Any], offset: int = 0) -> list[Finding]:
        keep: list[Finding] = []
        protected = [m.span() for m in self._protected.finditer(text)] if self._protected and results else []
        for r in results:
            if r.entity_type not in self.config.placeholders or r.score < self.config.score_threshold:
                continue
            if any(r.start < e and s < r.end for s, e in protected):
                continue
            if r.entity_type == "URL" and not plausible_url(text, r.start, r.end):
                continue
            if is_allowed(text[r.start:r.end], r.entity_type, self.config.allow_terms, self.config.filler_terms,
                          self._allow_res):
                continue
            keep.append(Finding(r.entity_type, r.start + offset, r.end + offset, round(float(r.score), 4)))
        return keep

    def _analyze_uncached(self, texts: Sequence[str], residual: bool = False) -> list[tuple[Finding, ...]]:
        engine = self.engine
        pieces: list[tuple[int, int, str]] = []  # (text index, offset, chunk)
        for i, t in enumerate(texts):
            pieces.extend((i, off, chunk) for off, chunk in split_chunks(t, self.config.chunk_chars))
        found: list[list[Finding]] = [[] for _ in texts]
        for (i, off, chunk), res in zip(pieces, engine.analyze_batch([p[2] for p in pieces], residual=residual)):
            found[i].extend(self._clean(chunk, res, off))
        self.stats["analyzed"] += len(texts)
        return [tuple(resolve_overlaps(f)) for f in found]

    def _analyze_many(self, texts: list[str]) -> list[tuple[Finding, ...]]:
        """Uncached analysis, fanned out over spawned worker processes when it pays.

        The caller (DuckDB) runs this UDF on one thread; spaCy is the cost, so distinct messages
        are split into contiguous chunks (whole nlp.pipe batches) analysed by ``pii_workers()``
        processes, each with its own Redactor. Results are per text, so they equal the serial ones.
        """
        workers = pii_workers()
        if workers < 2 or len(texts) < PARALLEL_MIN_TEXTS:
            return self._analyze_uncached(texts)
        pool = self._pool(workers)
        step = self.config.batch_size * max(1, -(-len(texts) // (self.config.batch_size * workers * 4)))
        chunks = [texts[i:i + step] for i in range(0, len(texts), step)]
        out: list[tuple[Finding, ...]] = []
        for part in pool.map(_worker_analyze, chunks):
            out.extend(part)
        self.stats["analyzed"] += len(texts)
        return out

    def _pool(self, workers: int) -> Any:
        if self._executor is None or self._executor_workers != workers:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            if self._executor is not None:
                self._executor.shutdown(wait=True)
            # spawn, never fork: delta-rs and DuckDB threads do not survive a fork
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_init, initargs=(self.config,))
            self._executor_workers = workers
            import atexit

            atexit.register(self._executor.shutdown, wait=True)
        return self._executor

    def analyze(self, texts: Sequence[str]) -> list[tuple[Finding, ...]]:
        """Findings per text (threshold, allow-list and overlaps applied), cached by sha256(text).

        A text starting with ``RESIDUAL_PREFIX`` asks for the residual-pass analysis of the rest
        (a redacted text; NER only next to placeholders), offsets relative to the rest; it is cached
        under the key of the prefixed text, so it never mixes with full analyses."""
        with self._lock:
            keys = [text_key(t) for t in texts]
            todo: dict[bytes, str] = {}
            for k, t in zip(keys, texts):
                if k in self._cache:
                    self._cache.move_to_end(k)
                elif k not in todo:
                    todo[k] = t
            self.stats["texts"] += len(texts)
            self.stats["cache_hits"] += len(texts) - len(todo)
            fresh: dict[bytes, tuple[Finding, ...]] = {}
            full = {k: t for k, t in todo.items() if not t.startswith(RESIDUAL_PREFIX)}
            resid = {k: t[len(RESIDUAL_PREFIX):] for k, t in todo.items() if t.startswith(RESIDUAL_PREFIX)}
            if full:
                fresh.update(zip(full, self._analyze_many(list(full.values()))))
            if resid:
                fresh.update(zip(resid, self._analyze_uncached(list(resid.values()), residual=True)))
            out = [fresh[k] if k in fresh else self._cache[k] for k in keys]
            for k, v in fresh.items():
                self._cache[k] = v
            while len(self._cache) > self.config.cache_max_entries:
                self._cache.popitem(last=False)
            return out

    def seed_cache(self, findings: "dict[bytes, tuple[Finding, ...]]") -> None:
        """Pre-load analyses computed elsewhere (the engine's persistent span cache), keyed by
        ``text_key``. Findings must come from the same privacy config (the engine keys its cache
        by ``config.config_hash``)."""
        with self._lock:
            for k, v in findings.items():
                self._cache[k] = tuple(v)

    def cache_items(self) -> "list[tuple[bytes, tuple[Finding, ...]]]":
        """Every (text_key, findings) held in memory: what the engine persists after a batch."""
        with self._lock:
            return list(self._cache.items())

    def clear_cache(self) -> None:
        """Forget cached analyses (e.g. between benchmark runs)."""
        with self._lock:
            self._cache.clear()

    # -- redaction ----------------------------------------------------------------------------
    def _scope_findings(self, texts: Sequence[str], findings: Sequence[Sequence[Finding]]) -> list[list[Finding]]:
        cfg = self.config
        if cfg.propagate and any(findings):
            return propagate(texts, findings, entity_types=cfg.propagate_entity_types,
                             min_token_chars=cfg.propagate_min_token_chars, stop_words=self.stop_words,
                             allow_terms=cfg.allow_terms | cfg.filler_terms)
        return [list(fs) for fs in findings]

    def _redact_scopes(self, scopes: Sequence[Sequence[str]]) -> list[tuple[list[str], str, dict[str, int]]]:
        """Redact each scope (list of texts sharing placeholders), then re-scan changed texts
        ``residual_passes`` times and redact what the changed context reveals (same scope)."""
        cfg = self.config
        analysed = iter(self.analyze([t for texts in scopes for t in texts]))
        states: list[tuple[list[str], PlaceholderScope, list[Finding]]] = []
        changed: list[tuple[int, int]] = []
        for si, texts in enumerate(scopes):
            fs = self._scope_findings(texts, [next(analysed) for _ in texts])
            ph = PlaceholderScope(cfg.placeholders)
            red = [apply_placeholders(t, f, ph) if f else t for t, f in zip(texts, fs)]
            states.append((red, ph, [f for msg in fs for f in msg]))
            changed += [(si, mi) for mi, f in enumerate(fs) if f]
        for _ in range(cfg.residual_passes):
            if not changed:
                break
            residual = self._residual_scan([states[si][0][mi] for si, mi in changed])
            again = []
            for (si, mi), fs in zip(changed, residual):
                if fs:
                    red, ph, applied = states[si]
                    red[mi] = apply_placeholders(red[mi], fs, ph)
                    applied.extend(fs)
                    again.append((si, mi))
            changed = again
        return [(red, pii_status(applied, cfg), count_by_type(applied)) for red, _, applied in states]

    def redact_conversations(self, conversations: Sequence[Sequence[dict[str, Any]] | None]) -> list[RedactionResult]:
        """Redact each conversation ([{"role", "content"}, ...]); placeholders are consistent across its turns.

        Non-string contents are left as they are; other message keys are kept. ``None`` gives a
        clean result with ``messages=None``. For preference records pass prompt + chosen + rejected
        as one conversation (one scope) and split the messages back by length.
        """
        idx = [[j for j, m in enumerate(conv or []) if isinstance(m.get("content"), str)] for conv in conversations]
        done = iter(self._redact_scopes([[conv[j]["content"] for j in ix] for conv, ix in zip(conversations, idx) if conv]))
        results: list[RedactionResult] = []
        for conv, ix in zip(conversations, idx):
            if conv is None:
                results.append(RedactionResult(None, None, CLEAN, {}))
                continue
            red, status, counts = next(done) if conv else ([], CLEAN, {})
            msgs = [dict(m) for m in conv]
            for j, t in zip(ix, red):
                msgs[j]["content"] = t
            results.append(RedactionResult(msgs, None, status, counts))
        return results

    def redact_texts(self, texts: Sequence[str | None]) -> list[RedactionResult]:
        """Redact standalone texts (e.g. pretrain records); each text is its own placeholder scope."""
        done = iter(self._redact_scopes([[t] for t in texts if isinstance(t, str)]))
        out: list[RedactionResult] = []
        for t in texts:
            if not isinstance(t, str):
                out.append(RedactionResult(None, t, CLEAN, {}))
                continue
            red, status, counts = next(done)
            out.append(RedactionResult(None, red[0], status, counts))
        return out

    def detect_conversations(self, conversations: Sequence[Sequence[str]]) -> list[list[list[Finding]]]:
        """The spans redact_conversations would replace, per message (conversations given as texts)."""
        analysed = iter(self.analyze([t for conv in conversations for t in conv]))
        return [self._scope_findings(conv, [next(analysed) for _ in conv]) for conv in conversations]

    def detect_texts(self, texts: Sequence[str]) -> list[list[Finding]]:
        """The spans redact_texts would replace."""
        return [self._scope_findings([t], [fs])[0] for t, fs in zip(texts, self.analyze(texts))]

    def _residual_scan(self, texts: Sequence[str]) -> list[list[Finding]]:
        """The residual pass over redacted texts: every pattern/cue recognizer, but the NER only
        on the sentences next to a placeholder (``residual_ner: near_placeholder``; ``full``
        re-reads every candidate sentence, like :meth:`scan`). Cached like analyze(), under a
        prefixed key; the result depends only on the redacted text and the config."""
        if self.config.residual_ner == "full":
            return self.scan(texts)
        out: list[list[Finding]] = []
        for t, fs in zip(texts, self.analyze([RESIDUAL_PREFIX + t for t in texts])):
            spans = [m.span() for m in PLACEHOLDER_RE.finditer(t)]
            out.append([f for f in fs if not overlaps_placeholder(t, f, spans)])
        return out

    def scan(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Residual scan: findings above threshold, ignoring <TAG_n> placeholders. Offsets only, no text."""
        out: list[list[Finding]] = []
        for t, fs in zip(texts, self.analyze(texts)):
            spans = [m.span() for m in PLACEHOLDER_RE.finditer(t)]
            out.append([f for f in fs if not overlaps_placeholder(t, f, spans)])
        return out


_REDACTORS: dict[str | None, Redactor] = {}
_REDACTORS_LOCK = threading.Lock()


def get_redactor(config_path: str | None = None) -> Redactor:
    """Process-wide Redactor per config path (the packaged privacy.yml for None)."""
    with _REDACTORS_LOCK:
        if config_path not in _REDACTORS:
            _REDACTORS[config_path] = Redactor(load_privacy_config(config_path))
        return _REDACTORS[config_path]
