"""Shape detection: score the keys and value types of sampled records against every shape.

Each detector returns the share of sampled records it fits plus the keys it resolved; the first
shape in priority order fitting at least ``FIT`` of the sample wins (preference before kto before
message lists before alpaca before utterance rows before Q/A before transcript before text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from lakehouse.shapes.keys import (
    CHOSEN_KEYS, CONVERSATION_KEYS, GROUP_KEYS, INPUT_KEYS, INSTRUCTION_KEYS, LABEL_KEYS, OUTPUT_KEYS, PROMPT_KEYS,
    REJECTED_KEYS, ROLE_KEYS, SPEAKER_KEYS, SYSTEM_KEYS, TEXT_KEYS, TITLE_KEYS, TURN_KEYS, TURN_TEXT_KEYS,
    UTTERANCE_KEYS, first_key,
)
from lakehouse.shapes.convert import decode_json_list, utterance_sort_key
from lakehouse.shapes.roles import infer_roles, norm_label
from lakehouse.shapes.transcript import looks_like_transcript
from lakehouse.shapes.types import SHAPES, InputError, ShapeDecision, ShapeOptions

FIT = 0.8          # share of sampled records a shape must fit to win outright
MIN_FIT = 0.5      # below this no shape is accepted
SAMPLE_SOURCE = "sample"


@dataclass
class _Fit:
    shape: str
    share: float
    options: dict[str, Any]
    reason: str


Records = Sequence[Mapping[str, Any]]


def _share(records: Records, pred: Callable[[Mapping[str, Any]], bool]) -> float:
    return sum(1 for r in records if pred(r)) / len(records)


def _common_key(records: Records, wanted: str | None, candidates: tuple[str, ...],
                exclude: tuple[str | None, ...] = ()) -> str | None:
    """The user's key when given, else the candidate found most often in the sample."""
    if wanted:
        return wanted
    found = Counter(k for r in records if (k := first_key([x for x in r if x not in exclude], candidates)))
    return found.most_common(1)[0][0] if found else None


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_answer(v: Any) -> bool:
    """A string, or a non-empty list of strings (several answers to one question)."""
    v = decode_json_list(v)
    return isinstance(v, str) or (isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v))


def _is_prose(v: Any) -> bool:
    """A string that reads like text (has a letter; not an id/url)."""
    return isinstance(v, str) and any(c.isalpha() for c in v) and not v.startswith(("http://", "https://"))


def _boolish(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, (int, float)) and v in (0, 1):
        return True
    return isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no")


def _turn_keys(turns: Any, opts: ShapeOptions) -> tuple[str, str] | None:
    """(role key, text key) when ``turns`` is a non-empty list of turn objects (or its JSON text)."""
    turns = decode_json_list(turns)
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
        return None
    t = turns[0]
    rk = opts.role_key if opts.role_key in t else first_key(t, ROLE_KEYS)
    tk = opts.text_key if opts.text_key in t else first_key(t, TURN_TEXT_KEYS)
    if rk is None or tk is None or not isinstance(t.get(rk), str):
        return None
    return rk, tk


# -- detectors -----------------------------------------------------------------------------------
def _preference(records: Records, opts: ShapeOptions) -> _Fit | None:
    ck = _common_key(records, opts.chosen_key, CHOSEN_KEYS)
    rk = _common_key(records, opts.rejected_key, REJECTED_KEYS)
    if not ck or not rk:
        return None
    share = _share(records, lambda r: r.get(ck) is not None and r.get(rk) is not None)
    pk = _common_key(records, opts.conversation_key or opts.question_key, PROMPT_KEYS + CONVERSATION_KEYS,
                     exclude=(ck, rk))
    out: dict[str, Any] = {"chosen_key": ck, "rejected_key": rk}
    prompt_desc = "the shared prefix of chosen/rejected"
    if pk:
        sample_prompt = decode_json_list(next((r[pk] for r in records if r.get(pk) is not None), None))
        out["conversation_key" if isinstance(sample_prompt, list) else "question_key"] = pk
        xk = _common_key(records, opts.input_key, INPUT_KEYS, exclude=(pk, ck, rk))
        if xk and first_key([pk], INSTRUCTION_KEYS):
            out["input_key"] = xk
        prompt_desc = f"'{pk}'"
        keys = _turn_keys(sample_prompt, opts)
        if keys:
            out["role_key"], out["text_key"] = keys
    sample_chosen = decode_json_list(next((r[ck] for r in records if r.get(ck) is not None), None))
    keys = _turn_keys(sample_chosen if isinstance(sample_chosen, list) else [sample_chosen], opts)
    if keys and "role_key" not in out:
        out["role_key"], out["text_key"] = keys
    sk = first_key(records[0], SYSTEM_KEYS) if records else None
    if sk and not opts.system_key:
        out["system_key"] = sk
    return _Fit("preference", share, out, f"'{ck}'/'{rk}' pairs, prompt from {prompt_desc}")


def _kto(records: Records, opts: ShapeOptions) -> _Fit | None:
    lk = _common_key(records, opts.label_key, LABEL_KEYS)
    if not lk:
        return None
    conv = _common_key(records, opts.conversation_key, CONVERSATION_KEYS)
    if conv:
        keys = next((k for r in records if (k := _turn_keys(r.get(conv), opts))), None)
        share = _share(records, lambda r: _boolish(r.get(lk)) and _turn_keys(r.get(conv), opts) is not None)
        out: dict[str, Any] = {"label_key": lk, "conversation_key": conv}
        if keys:
            out["role_key"], out["text_key"] = keys
        return _Fit("kto", share, out, f"'{conv}' turns with boolean '{lk}'")
    pk = _common_key(records, opts.question_key, PROMPT_KEYS)
    ak = _common_key(records, opts.answer_key, ("completion",) + OUTPUT_KEYS)
    if not pk or not ak:
        return None
    share = _share(records, lambda r: _boolish(r.get(lk)) and r.get(pk) is not None and r.get(ak) is not None)
    return _Fit("kto", share, {"label_key": lk, "question_key": pk, "answer_key": ak},
                f"'{pk}' + '{ak}' with boolean '{lk}'")


def _messages(records: Records, opts: ShapeOptions) -> _Fit | None:
    combos: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        keys = [opts.conversation_key] if opts.conversation_key else list(r)
        for k in keys:
            tk = _turn_keys(r.get(k), opts)
            if tk:
                combos[(k, *tk)] += 1
                break
    if not combos:
        return None
    (conv, rk, tk), n = combos.most_common(1)[0]
    pair = (rk.lower(), tk.lower())
    shape = "chatml" if pair == ("role", "content") else "sharegpt" if pair == ("from", "value") else "role_list"
    out: dict[str, Any] = {"conversation_key": conv, "role_key": rk, "text_key": tk}
    sk = _common_key(records, opts.system_key, SYSTEM_KEYS, exclude=(conv,))
    if sk:
        out["system_key"] = sk
    return _Fit(shape, n / len(records), out, f"list field '{conv}' of {{{rk}, {tk}}} turns")


def _alpaca(records: Records, opts: ShapeOptions) -> _Fit | None:
    # a user question_key means alpaca only together with an input_key (else it is a Q/A table)
    ik = _common_key(records, opts.question_key if opts.input_key else None, INSTRUCTION_KEYS)
    ok = _common_key(records, opts.answer_key, OUTPUT_KEYS)
    if not ik or not ok:
        return None
    xk = _common_key(records, opts.input_key, INPUT_KEYS)
    share = _share(records, lambda r: _is_text(r.get(ik)) and r.get(ok) is not None)
    out: dict[str, Any] = {"question_key": ik, "answer_key": ok}
    if xk:
        out["input_key"] = xk
    sk = _common_key(records, opts.system_key, SYSTEM_KEYS)
    if sk:
        out["system_key"] = sk
    return _Fit("alpaca", share, out, f"'{ik}'{' + ' + repr(xk) if xk else ''} -> '{ok}'")


def _utterance_rows(records: Records, opts: ShapeOptions) -> _Fit | None:
    sk = _common_key(records, opts.role_key, SPEAKER_KEYS)
    if not sk:
        return None
    tk = _common_key(records, opts.text_key, UTTERANCE_KEYS, exclude=(sk,))
    gk = _common_key(records, opts.conversation_key, GROUP_KEYS, exclude=(sk, tk))
    if not tk or not gk:
        return None
    turn = _common_key(records, opts.turn_key, TURN_KEYS, exclude=(sk, tk, gk))
    share = _share(records, lambda r: isinstance(r.get(sk), str) and len(r[sk]) <= 60 and _is_text(r.get(tk))
                   and r.get(gk) not in (None, ""))
    groups = Counter(str(r.get(gk)) for r in records)
    if len(records) > 1 and groups.most_common(1)[0][1] < 2 and not turn:
        share *= 0.5  # no repeated conversation ids and no turn column: weak evidence
    out: dict[str, Any] = {"conversation_key": gk, "role_key": sk, "text_key": tk}
    if turn:
        out["turn_key"] = turn
    return _Fit("utterance_rows", share, out,
                f"one utterance per row: id '{gk}', {'turn ' + repr(turn) + ', ' if turn else ''}speaker '{sk}', "
                f"text '{tk}'")


def _file_turns(records: Records, opts: ShapeOptions) -> _Fit | None:
    """Each record is one turn ({role, content, ...}) and nothing names a conversation: the file is
    one conversation (e.g. a JSON file whose top level is a session's list of turns). Converted as
    utterance_rows without a conversation_key (grouped by file, in file order)."""
    if opts.conversation_key:
        return None
    rk = _common_key(records, opts.role_key, SPEAKER_KEYS)
    if not rk:
        return None
    tk = _common_key(records, opts.text_key, UTTERANCE_KEYS + TURN_TEXT_KEYS, exclude=(rk,))
    if not tk or _common_key(records, None, GROUP_KEYS, exclude=(rk, tk)):
        return None
    share = _share(records, lambda r: isinstance(r.get(rk), str) and 0 < len(r[rk].strip()) <= 40
                   and _is_text(r.get(tk)))
    labels = {norm_label(r[rk]) for r in records if isinstance(r.get(rk), str)}
    if len(labels) < 2 or len(labels) > 4:
        return None  # one speaker is not a conversation; many distinct values are not speaker labels
    out: dict[str, Any] = {"role_key": rk, "text_key": tk}
    turn = _common_key(records, opts.turn_key, TURN_KEYS, exclude=(rk, tk))
    if turn:
        out["turn_key"] = turn
    return _Fit("utterance_rows", share, out,
                f"one conversation per file: each record is a turn {{{rk}, {tk}}}, in "
                f"{'turn ' + repr(turn) if turn else 'file'} order")


def _qa(records: Records, opts: ShapeOptions) -> _Fit | None:
    qk = _common_key(records, opts.question_key, PROMPT_KEYS)
    ak = _common_key(records, opts.answer_key, OUTPUT_KEYS, exclude=(qk,))
    if not qk or not ak:
        return None
    share = _share(records, lambda r: _is_prose(r.get(qk)) and _is_answer(r.get(ak)))
    out: dict[str, Any] = {"question_key": qk, "answer_key": ak}
    title = opts.title_key or _common_key(records, None, TITLE_KEYS, exclude=(qk, ak))
    if title:
        out["title_key"] = title
    return _Fit("qa", share, out, f"question '{qk}'{' (title ' + repr(title) + ')' if title else ''} -> answer '{ak}'")


def _string_fields(records: Records) -> list[str]:
    seen: Counter[str] = Counter(k for r in records for k, v in r.items() if isinstance(v, str))
    return [k for k, _ in seen.most_common()]


def _transcript(records: Records, opts: ShapeOptions) -> _Fit | None:
    keys = [opts.text_key] if opts.text_key else _string_fields(records)
    best: tuple[float, str] | None = None
    for k in keys:
        share = _share(records, lambda r: looks_like_transcript(r.get(k), opts.role_map))  # type: ignore[arg-type]
        if share and (best is None or share > best[0]):
            best = (share, k)
    if best is None:
        return None
    return _Fit("transcript", best[0], {"text_key": best[1]}, f"speaker-prefixed transcript in '{best[1]}'")


def _text(records: Records, opts: ShapeOptions) -> _Fit | None:
    key = opts.text_key or _common_key(records, None, TEXT_KEYS)
    if key is None:
        strings = _string_fields(records)
        long = [k for k in strings
                if sum(len(r.get(k) or "") for r in records if isinstance(r.get(k), str)) / len(records) >= 200]
        if len(long) != 1:
            return None
        key = long[0]
    share = _share(records, lambda r: _is_prose(r.get(key)))
    return _Fit("text", share, {"text_key": key}, f"plain text in '{key}'")


_DETECTORS: tuple[Callable[[Records, ShapeOptions], _Fit | None], ...] = (
    _preference, _kto, _messages, _alpaca, _utterance_rows, _file_turns, _qa, _transcript, _text,
)


def _speaker_sequences(records: Records, shape: str, opts: ShapeOptions) -> list[list[object]]:
    """The raw speaker label of every turn, conversation by conversation, as far as the sample shows."""
    if shape in ("chatml", "sharegpt", "role_list"):
        out = []
        for r in records:
            turns = decode_json_list(r.get(opts.conversation_key or ""))
            if isinstance(turns, list):
                out.append([t.get(opts.role_key or "") for t in turns if isinstance(t, dict)])
        return out
    if shape == "utterance_rows":
        groups: dict[str, list[tuple[tuple, object]]] = {}
        for i, r in enumerate(records):
            gid = str(r.get(opts.conversation_key)) if opts.conversation_key else ""
            groups.setdefault(gid, []).append((utterance_sort_key(r, opts, i), r.get(opts.role_key or "")))
        return [[label for _, label in sorted(rows, key=lambda x: x[0])] for rows in groups.values()]
    return []


def _with_inferred_roles(decision: ShapeDecision, records: Records) -> ShapeDecision:
    """Speaker codes that are not role names: roles from turn order when unambiguous (added to the
    role_map, user entries win), else a note naming the --role-map to pass."""
    opts = decision.options
    inference = infer_roles(_speaker_sequences(records, decision.shape, opts), opts.role_map)
    if inference is None:
        return decision
    codes = ", ".join(repr(c) for c in inference.codes)
    if inference.role_map is not None:
        role_map = {**inference.role_map, **opts.role_map}
        mapped = ", ".join(f"{k!r} -> {v}" for k, v in inference.role_map.items())
        return ShapeDecision(decision.shape, opts.replace(role_map=role_map),
                             f"{decision.reason}; speaker codes {codes} are not role names: roles inferred from "
                             f"turn order ({inference.reason}): {mapped} (override with --role-map)")
    return ShapeDecision(decision.shape, opts,
                         f"{decision.reason}; speaker codes {codes} are not role names and turn order does not "
                         f"settle them ({inference.reason}): their records will be quarantined as unknown_role; "
                         f"name them with --role-map {inference.suggestion()}")


def _keys_seen(records: Records) -> str:
    c: Counter[str] = Counter(k for r in records for k in r)
    return ", ".join(f"{k} ({n}/{len(records)})" for k, n in c.most_common(20))


def detect_shape(sample: list[dict], options: ShapeOptions = ShapeOptions(), file_format: str | None = None
                 ) -> ShapeDecision:
    """The shape of a source from its first records, with the keys it resolved filled into the options.

    Keys already set in ``options`` are used as given. Raises InputError listing the keys seen when
    no shape fits. For ``txt`` files: a speaker-prefixed transcript (each chunk, cut before a
    speaker line, is one conversation) or plain text.
    """
    records = [r for r in sample if isinstance(r, dict)]
    if not records:
        raise InputError(SAMPLE_SOURCE, "no readable records to detect the shape from")
    if file_format == "txt":
        fit = _transcript(records, options.replace(text_key="text"))
        if fit and fit.share >= MIN_FIT:
            return ShapeDecision("transcript", options.merged(text_key="text"),
                                 f"txt: {fit.reason} in {fit.share:.0%} of chunks (cut before speaker lines)")
        return ShapeDecision("text", options.merged(text_key="text"), "txt: plain text, chunked for pretraining")
    fits = [f for d in _DETECTORS if (f := d(records, options))]
    chosen = next((f for f in fits if f.share >= FIT), None)
    if chosen is None:
        best = max(fits, key=lambda f: f.share, default=None)
        if best is None or best.share < MIN_FIT:
            tried = "; ".join(f"{f.shape} {f.share:.0%}" for f in fits) or "none matched"
            raise InputError(SAMPLE_SOURCE, f"no input shape fits the {len(records)} sampled records "
                             f"(best: {tried}); keys seen: {_keys_seen(records)}. Supported shapes: "
                             f"{', '.join(SHAPES)}; name the fields with options (conversation/role/text/"
                             "question/answer keys) when they use other names")
        chosen = best
    reason = f"{chosen.shape}: {chosen.reason} ({chosen.share:.0%} of {len(records)} sampled records)"
    return _with_inferred_roles(ShapeDecision(chosen.shape, options.merged(**chosen.options), reason), records)
