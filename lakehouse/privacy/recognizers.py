"""Span finders that need word lists or several lines (pure: no spaCy/Presidio import).

* :class:`NameShapeFinder`: capitalised runs shaped like a person's name ("Johannes Varvio",
  "Wisława Szczepańska", "Ella H. Snider"), and single names in a name slot ("Kadiev and Adams
  were", "Vsevolod: ...", "my kid Agi").
* :class:`PlaceFinder`: countries / US states (GeoNames) as written, and cities after a place cue
  ("arrived at Dordrecht", "in Bremen").
* :class:`AddressBlockFinder`: street lines in US and international order ("6750 Koskikatu 25",
  "233 Erzsébet tér 19.", "12 Main St") extended over the unit, city, region and postcode that
  follow on the same line or on the next short lines; "the corner of X and Y"; postcodes after a
  cue ("zip code is 35350") or after a place ("in Bjert 6091", "Sweden 99178").

Each finder returns (start, end) spans; scores and entity types come from privacy.yml.
"""

from __future__ import annotations

import re
from typing import AbstractSet, Iterable

from .patterns import NOT_NAMES, _UP

_NOT_NAMES = frozenset(w.lower() for w in NOT_NAMES)
_CONTRACTIONS = frozenset({"m", "ve", "ll", "d", "re", "s", "t"})
_CAP = rf"[{_UP}][^\W\d_]*(?:['’-][^\W\d_]+)*"
_INITIAL = rf"[{_UP}]\.?"
# a capitalised run: words, optional middle initials, possessive 's stripped by the caller
_RUN = re.compile(rf"(?<![\w.@/])(?:{_CAP}|{_INITIAL}(?=[ \t]+[{_UP}]))(?:[ \t]+(?:{_CAP}|{_INITIAL}(?=[ \t]+[{_UP}])))*(?![\w@])")
_SENT_START = re.compile(r"(?:^|[.!?\n]|[:;]\s)[\s\"'“(>?-]*$")


def _is_start(text: str, pos: int) -> bool:
    return bool(_SENT_START.search(text, max(0, pos - 6), pos)) or pos == 0


class NameShapeFinder:
    """Person-name-shaped capitalised runs. ``common``: ordinary English words (lower case);
    ``first``/``last``: census name lists; ``places``: GeoNames names (lower case); ``skip``:
    stop words, allow/filler terms. A run of 2-3 words is a name when every word is a name
    word (not common, or a census name) and at least one is not a common word or the first is a
    census first name. A single word needs a name slot around it."""

    AFTER_ONE = re.compile(r"[ \t]*(?::(?![/\d])|,[ \t]+(?:can|could|would|will|please)\b|[ \t]+(?:and|&)[ \t]+[A-Z]|'s\b|’s\b|[ \t]+(?:is|was|had|has|began|spent|said|says|told|shouted|wrote|gave|went|came|called|left|wants|wanted|thinks|thought|asked|lives|lived|works|worked)\b)")
    BEFORE_ONE = re.compile(r"(?i:\b(?:and|by|to|at|with|from|than|of|for|my|our|his|her|kid|son|daughter|name is|name's|name:|early|dear|hi|hello|hey|thanks|thank you|love|,)[ \t]*)$")

    SPEAKER = re.compile(r"[ \t]*:(?![/\d])")
    NAMING = re.compile(r"(?i:\b(?:name is|name's|named|called|dear|hi|hello|hey|my (?:kid|son|daughter|sister|brother|friend))[ \t:,]*)$")

    def __init__(self, common: AbstractSet[str], first: AbstractSet[str], last: AbstractSet[str],
                 places: AbstractSet[str], skip: AbstractSet[str]):
        self.common, self.first, self.last, self.places, self.skip = common, first, last, places, skip

    def _common(self, low: str) -> bool:
        """An ordinary word, inflected forms included ("ideas", "having", "strategies")."""
        c = self.common
        if low in c:
            return True
        if "-" in low:  # "Self-Doubt", "Imposter-Syndrome"
            parts = [p for p in low.split("-") if p]
            return bool(parts) and all(self._common(p) for p in parts)
        stems = []
        if low.endswith("ies"):
            stems.append(low[:-3] + "y")
        if low.endswith("es"):
            stems.append(low[:-2])
        if low.endswith("s"):
            stems.append(low[:-1])
        if low.endswith("ing"):
            stems += [low[:-3], low[:-3] + "e", low[:-4]]
        if low.endswith("ed"):
            stems += [low[:-2], low[:-1], low[:-3]]
        return any(st in c for st in stems if len(st) >= 3)

    def _word_ok(self, w: str) -> bool:
        low = w.lower().rstrip(".").replace("’", "'")
        if "'" in low:
            base, _, tail = low.partition("'")
            if tail in _CONTRACTIONS and (base in self.skip or base in _NOT_NAMES or self._common(base) or len(base) < 2):
                return False  # "I’m", "You've", "Let's"
        if low in self.skip or low in _NOT_NAMES or len(low) < 2:
            return False
        return not self._common(low) or low in self.first or low in self.last

    def _strong(self, w: str) -> bool:
        low = w.lower()
        return not self._common(low) and low not in self.places and not w.isupper()

    def find(self, text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for m in _RUN.finditer(text):
            s, e = m.span()
            if text[e - 2:e] in ("'s", "’s"):
                e -= 2  # "Wierzbicki's lawyer": the possessive stays
            words = re.findall(rf"{_CAP}|{_INITIAL}", text[s:e])
            # drop leading words that cannot be part of a name ("Honestly Sarah", "Directed By")
            while words and not (len(words[0].rstrip(".")) == 1 or self._word_ok(words[0])):
                s = text.index(words[0], s) + len(words[0])
                while s < e and text[s] in " \t":
                    s += 1
                words.pop(0)
            full = [w for w in words if len(w.rstrip(".")) > 1]
            if not full or len(full) > 3 or not all(self._word_ok(w) for w in full):
                continue
            if " ".join(full).lower() in self.places or all(w.isupper() for w in full):
                continue
            if len(full) >= 2:
                if any(self._strong(w) for w in full) or full[0].lower() in self.first:
                    out.append((s, e))
                continue
            w = full[0]
            low = w.lower()
            if len(low) < 3 or low in self.places:
                continue
            if self._strong(w):
                if self.AFTER_ONE.match(text, e) or self.BEFORE_ONE.search(text, max(0, s - 14), s):
                    out.append((s, e))
            elif low in self.first and (self.SPEAKER.match(text, e) and _is_start(text, s)
                                        or self.NAMING.search(text, max(0, s - 14), s)):
                out.append((s, e))  # an ordinary word ("Grace", "Will") only where the text marks a name
        return out


class PlaceFinder:
    """Countries/US states as written (not those that are also first names, like "Georgia",
    unless a cue precedes), and GeoNames cities after a place cue. Looked up per capitalised run
    (sub-sequences of up to ``max_words`` words) in sets: no giant regex."""

    CUE = re.compile(r"(?i:\b(?:in|from|to|at|near|visiting|visited|towards|outside|around|of)[ \t]+)$")
    WORD = re.compile(r"[^\W\d_][\w'’-]*")

    def __init__(self, regions: Iterable[str], cities: Iterable[str], first: AbstractSet[str], max_words: int = 4):
        self.regions = frozenset(regions)
        self.cities = frozenset(c for c in cities if len(c) >= 4) - self.regions
        self.first = first
        self.max_words = max_words

    def find(self, text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        words = [(m.start(), m.end()) for m in self.WORD.finditer(text)]
        i = 0
        n = len(words)
        while i < n:
            s0, e0 = words[i]
            if not text[s0].isupper():
                i += 1
                continue
            hit = None
            end_j = i
            for j in range(min(n, i + self.max_words) - 1, i - 1, -1):
                if j > i and any(text[words[k][1]:words[k + 1][0]] not in (" ", "-") for k in range(i, j)):
                    continue
                name = text[s0:words[j][1]]
                if name in self.regions:
                    cue = bool(self.CUE.search(text, max(0, s0 - 12), s0))
                    if name.lower() not in self.first or cue:
                        hit = (s0, words[j][1])
                elif name in self.cities and self.CUE.search(text, max(0, s0 - 12), s0):
                    hit = (s0, words[j][1])
                if hit:
                    end_j = j
                    break
            if hit:
                out.append(hit)
                i = end_j + 1
            else:
                i += 1
        return out


_CONNECT = frozenset("de da do dos das del della delle di du des la le les van der den ten nad na pod am an im y e nan".split())
_LOWER_CONNECT = r"(?:de|da|do|dos|das|del|della|delle|di|du|des|la|le|les|van|der|den|ten|nad|na|pod|am|an|im|gate|gata|gade|vej|tér|utca|út|u\.|rkp\.|ul\.|str\.?|street|st\.|road|rd\.|ave\.?|avenue)"
_STREET_WORD = rf"(?:[{_UP}][\w'’.-]*|{_LOWER_CONNECT})"
_NUM = r"\d{1,6}[A-Za-z]?(?:-\d{1,4})?"
_UNIT = r"(?:(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Fl\.?|Floor|Room|Rm\.?|#)[ \t]*#?[A-Za-z0-9-]+)"
# number, 1-4 street words, house number ("6750 Koskikatu 25", "233 Erzsébet tér 19.")
_INTL_CORE = rf"(?<![\w.,/-]){_NUM}[ \t]+{_STREET_WORD}(?:[ \t]+{_STREET_WORD}){{0,3}}[ \t]+\d{{1,5}}[A-Za-z]?\b\.?"
_POSTCODE = r"(?:\d{3}[ \t]?\d{2}|\d{4,5}(?:-\d{3,4})?|\d{2}-\d{3}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})"
# an address line after the street: unit, "City", "City, ST 12345", "Country 12345", ", CO"
_LINE = re.compile(
    rf"[ \t>?]*(?:{_UNIT}|,?[ \t]*(?:(?:[{_UP}][\w'’.-]*|[a-z]{{1,4}}\.?|{_POSTCODE}|\d{{1,5}})[ \t,]*){{1,6}})[ \t]*[.?]?[ \t]*(?=\n|$)")
_CONNECT_ALT = "|".join(sorted(_CONNECT, key=len, reverse=True))
_TAIL_WORD = rf"(?:[{_UP}][\w'’-]*|(?:{_CONNECT_ALT}))(?![\w'’-])"
_SAME_LINE_TAIL = re.compile(
    rf"(?:[ \t,]+{_UNIT}){{0,2}}(?:,[ \t]*{_TAIL_WORD}(?:[ \t]+{_TAIL_WORD}){{0,3}}){{0,3}}(?:,?[ \t]+{_POSTCODE}\b)?")
_CORNER = re.compile(rf"(?i:\bcorner[ \t]+of)[ \t]+(?P<pii>(?:[\w'’.-]+[ \t]+){{0,5}}?[\w'’.-]+[ \t]+and[ \t]+(?:[{_UP}0-9][\w'’.-]*[ \t]*){{1,4}}(?:St\.|Street|Ave\.?)?)")
_ZIP_CUE = re.compile(rf"(?i:\b(?:zip|zip[ \t]?code|postal[ \t]?code|postcode|post[ \t]?code)\b)[^\w\n]{{0,4}}(?:is[ \t]+)?(?P<pii>{_POSTCODE})\b")
_PLACE_POSTCODE = re.compile(rf"(?<![\w])(?:in|at)[ \t]+(?P<pii>[{_UP}][\w'’-]+(?:[ \t]+[{_UP}][\w'’-]+)?[ \t]+(?:\d{{3}}[ \t]\d{{2}}|\d{{4,5}}))\b")


class AddressBlockFinder:
    """Street addresses with what follows them (same line and up to ``max_lines`` short lines)."""

    def __init__(self, street_regexes: Iterable[str], regions: Iterable[str], common: AbstractSet[str],
                 veto: AbstractSet[str], max_lines: int = 5):
        self.intl = re.compile(_INTL_CORE)
        self.cores = [re.compile(r) for r in street_regexes]
        self.common, self.veto = common, veto
        self.max_lines = max_lines
        alts = sorted(set(regions), key=lambda n: (-len(n), n))
        self.region_postcode = re.compile(
            r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in alts) + rf")[ \t,]+{_POSTCODE}\b")

    def _extend(self, text: str, end: int) -> int:
        m = _SAME_LINE_TAIL.match(text, end)
        if m and m.end() > end:
            end = m.end()
        lines = 0
        blank = 0
        pos = end
        while lines < self.max_lines and pos < len(text) and text[pos] == "\n":
            nxt = pos + 1
            if nxt < len(text) and text[nxt] == "\n" and blank == 0:  # one blank line allowed
                blank = 1
                nxt += 1
            m = _LINE.match(text, nxt)
            if not m or not m.group(0).strip(" \t>?.") or ":" in m.group(0):
                break
            words = m.group(0).split()
            if len(words) > 7 or any(w.islower() and w.strip(",.") not in _CONNECT for w in words):
                break
            end = pos = m.end()
            lines += 1
        return end

    def find(self, text: str) -> list[tuple[int, int]]:
        if not any(c.isdigit() for c in text):
            return []
        out: list[tuple[int, int]] = []
        for m in self.intl.finditer(text):
            words = [w.lower().strip(".") for w in re.findall(r"[^\W\d_][\w'’.-]*", m.group(0))]
            if any(w in self.veto for w in words) or all(w in self.common for w in words):
                continue  # "30 Xanax 2", "12 March 2021"
            out.append((m.start(), self._extend(text, m.end())))
        for rx in self.cores:
            for m in rx.finditer(text):
                out.append((m.start(), self._extend(text, m.end())))
        for rx in (_CORNER, _ZIP_CUE, _PLACE_POSTCODE):
            for m in rx.finditer(text):
                out.append(m.span("pii"))
        for m in self.region_postcode.finditer(text):
            out.append(m.span())
        return out


# ------------------------------------------------------------------------------------------ IBAN
# A candidate starts with a country code and the two check digits, glued together, at a word
# start or right after "IBAN" ("IBANDE89..."); any case ("iban: de89 3704 ...").
_IBAN_START = re.compile(r"(?:(?<=[Ii][Bb][Aa][Nn])|(?<![\w]))([A-Za-z]{2})([0-9]{2})")
_IBAN_SEP = frozenset(" \u00a0\u202f\t-.")   # between characters: grouped in 4s, dashed, dotted (stdnum.iban.compact)
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IBAN_CUE = re.compile(r"(?i:iban)\W{0,3}$")
# an IBAN outside the registry's lengths, as banks print it: upper case, compact or in groups of
# four (the last group 1-4), spaces or dashes between groups
_IBAN_UPPER = re.compile(r"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?:[ \u00a0-][A-Z0-9]{4}){2,7}(?:[ \u00a0-][A-Z0-9]{1,3})?)(?![\w])")
_IBAN_ANY = re.compile(r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?:[ \u00a0-][A-Za-z0-9]{4}){2,7}(?:[ \u00a0-][A-Za-z0-9]{1,3})?)(?![\w])")
IBAN_MIN, IBAN_MAX = 15, 34   # ISO 13616: at most 34 characters; the shortest in use (NO) has 15


class IbanFinder:
    """IBANs as people write them. Returns ``(start, end, score)``: ``score`` for a registered
    IBAN, ``checksum_only_score`` for the rest.

    *Registered*: the country code's length and BBAN format come from the ISO 13616
    registry (python-stdnum's copy of SWIFT's); the candidate is read for exactly that many
    characters, compact or with spaces/dashes/dots between them (at most 3 in a row), in any
    case, with or without an "IBAN" / "IBAN:" prefix, and must end at a word boundary and pass
    ``stdnum.iban.is_valid`` (mod-97 + registry format; the optional national check-digit rules
    are not required: a mistyped account number is still someone's).

    *Checksum only*: IBANs of countries that use them outside SWIFT's registry (Iran,
    Algeria, Senegal, ...), or of a length the registry does not give: 15-34 characters,
    compact or in groups of four, upper case (any case right after "IBAN"), passing mod-97.
    Groups are tried longest first, so a following upper-case word is left out.

    Presidio's IbanRecognizer misses (tests/test_pii_iban.py): lower-case IBANs (its pattern is
    upper-case only), 13 registry countries absent from its per-country table (BI, DJ, FK, HN,
    MN, NI, OM, RU, SD, SO, ST, SV, YE) and 6 whose table entry disagrees with the registry (AZ,
    CR, DO, JO, PK, PS), IBANs outside the registry, and IBANs followed by an upper-case word
    ("... 00 TODAY"), which its greedy 4-character groups swallow before the checksum fails.
    """

    def __init__(self, score: float = 1.0, checksum_only_score: float = 0.8) -> None:
        from stdnum import iban, numdb
        from stdnum.iso7064 import mod_97_10

        self._is_valid = iban.is_valid
        self._mod97 = mod_97_10.is_valid
        self._db = numdb.get("iban")
        self._lengths: dict[str, int] = {}
        self.score, self.checksum_only_score = score, checksum_only_score

    def length(self, country: str) -> int:
        """Total IBAN length for a country code from the registry, 0 if it has no IBAN."""
        cc = country.upper()
        n = self._lengths.get(cc)
        if n is None:
            bban = self._db.info(cc)[0][1].get("bban", "")   # e.g. DE: "8!n10!n"
            n = 4 + sum(int(k) for k in re.findall(r"(\d+)!", bban)) if bban else 0
            self._lengths[cc] = n
        return n

    def _registered(self, text: str, m: re.Match[str]) -> int:
        """End of a registry-valid IBAN starting at m, else -1."""
        want = self.length(m.group(1))
        if not want:
            return -1
        chars = [m.group(1), m.group(2)]
        got, i, end, n_text = 4, m.end(), m.end(), len(text)
        while got < want and i < n_text:
            c = text[i]
            if c in _ASCII_ALNUM:
                chars.append(c)
                got += 1
                i = end = i + 1
                continue
            j = i
            while j < n_text and j - i < 3 and text[j] in _IBAN_SEP:
                j += 1
            if j == i or j >= n_text or text[j] not in _ASCII_ALNUM:
                break
            i = j
        if got != want or (end < n_text and (text[end].isalnum() or text[end] == "_")):
            return -1
        return end if self._is_valid("".join(chars).upper(), check_country=False) else -1

    def _checksum_only(self, text: str, start: int) -> int:
        """End of an IBAN-shaped, mod-97-valid token starting at ``start`` (longest first), else -1."""
        rx = _IBAN_ANY if _IBAN_CUE.search(text, max(0, start - 8), start) else _IBAN_UPPER
        m = rx.match(text, start)
        if m is None:
            return -1
        span = m.group(0)
        cuts = [len(span)] + [k for k in range(len(span) - 1, 0, -1) if span[k] in " \u00a0-"]
        for k in cuts:
            compact = "".join(c for c in span[:k] if c in _ASCII_ALNUM).upper()
            if IBAN_MIN <= len(compact) <= IBAN_MAX and self._mod97(compact[4:] + compact[:4]):
                return start + k
        return -1

    def find(self, text: str) -> list[tuple[int, int, float]]:
        out: list[tuple[int, int, float]] = []
        pos = 0
        while True:
            m = _IBAN_START.search(text, pos)
            if m is None:
                return out
            pos = m.start() + 1
            end = self._registered(text, m)
            registered = end > 0
            if not registered:
                end = self._checksum_only(text, m.start())
            if end > 0:
                out.append((m.start(), end, self.score if registered else self.checksum_only_score))
                pos = end
