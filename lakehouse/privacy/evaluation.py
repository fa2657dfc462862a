"""Measuring the redactor: a seeded therapy-style synthetic set (Faker), the presidio-research
labelled set, and span scoring. Used by bench/pii_eval.py and the tests; Faker is a dev dependency.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

# Canonical report labels for our entity types.
PRED_LABELS = {
    "PERSON": "PERSON", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL", "STREET_ADDRESS": "ADDRESS",
    "LOCATION": "LOCATION", "US_SSN": "SSN", "DATE_TIME": "DATE", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP", "URL": "URL", "US_DRIVER_LICENSE": "DRIVER_LICENSE",
    "ORGANIZATION": "ORGANIZATION", "NRP": "NRP", "ID_NUMBER": "ID",
}
# presidio-research entity names (they differ between synth_dataset_v2 and generated_small).
GOLD_LABELS = {
    "PERSON": "PERSON", "STREET_ADDRESS": "ADDRESS", "ADDRESS": "ADDRESS", "ZIP_CODE": "ZIP",
    "GPE": "LOCATION", "LOCATION": "LOCATION", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN", "DATE_TIME": "DATE", "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP", "DOMAIN_NAME": "URL", "US_DRIVER_LICENSE": "DRIVER_LICENSE",
    "ORGANIZATION": "ORGANIZATION", "TITLE": "TITLE", "AGE": "AGE", "NRP": "NRP",
}
# Labels the redactor is meant to remove (overall recall is over these).
TARGETED = ("PERSON", "PHONE", "EMAIL", "ADDRESS", "LOCATION", "SSN", "DATE", "CREDIT_CARD", "IBAN", "IP", "URL",
            "DRIVER_LICENSE")
# The nine types of issue 17's headline recall (dates, ages, organisations, titles, nationalities,
# ZIP-only and domain names are kept by policy and not counted here).
NINE = ("PERSON", "ADDRESS", "LOCATION", "PHONE", "EMAIL", "SSN", "CREDIT_CARD", "IBAN", "IP")
COVERED = 0.5  # a span counts as matched when >= this share of its word characters is covered


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass
class LabelledText:
    text: str
    spans: list[Span]
    keep: list[str] = field(default_factory=list)  # sentences that must come out unchanged


# ---------------------------------------------------------------------------------- loaders
def load_presidio_research(path: str | Path) -> list[LabelledText]:
    """presidio-research records (a JSON list or JSON lines) with entity names mapped to GOLD_LABELS."""
    p = Path(path)
    raw = p.read_text(encoding="utf-8")
    rows = json.loads(raw) if raw.lstrip().startswith("[") else [json.loads(line) for line in raw.splitlines() if line.strip()]
    out = []
    for r in rows:
        spans = [Span(s["start_position"], s["end_position"], GOLD_LABELS.get(s["entity_type"], s["entity_type"]))
                 for s in r.get("spans") or []]
        out.append(LabelledText(r["full_text"], spans))
    return out


# ---------------------------------------------------------------------------------- synthetic set
CRISIS_SENTENCES = (
    "I want to kill myself.", "I took 30 pills two weeks ago.", "I have 10 Ambien left.", "yesterday I cut myself.",
    "tonight I feel hopeless.", "I haven't slept in 3 days.", "I stopped taking my Zoloft 2 weeks ago.",
    "I took 12 Xanax and 4 Klonopin last night.", "My lithium dose is 900 mg.", "I wrote a goodbye note this morning.",
    "I've been cutting for 5 years.", "I was in the psych ward for 10 days in 2019.", "Every night I think about ending it.",
    "I called 988 last Friday but hung up.", "The Crisis Text Line told me to text HOME to 741741.",
    "I drank a bottle of vodka and took 20 Tylenol.", "Since Christmas I have felt worthless.",
    "I go for a 30 minute walk every morning.", "My DBT group meets on Tuesdays.", "I relapsed 3 weeks ago after 6 months clean.",
    "I want to die.", "I keep thinking everyone would be better off without me.", "I doubled my Seroquel to 200 mg on Monday.",
    "Tomorrow is the anniversary of my dad's death.", "I have been sober for 90 days.",
)
_USER_PII = (
    "My therapist Dr. {t_full} said I should try journaling.",
    "Dr. {t_last} wants me to call {phone} if I feel unsafe.",
    "I live at {street} in {city}.",
    "You can reach me at {phone}.",
    "My email is {email} if you need it.",
    "My SSN is {ssn}, the insurance form asked for it.",
    "I was born on {date}.",
    "{f_full} from work keeps texting me.",
    "My sister {f_first} found me on the bathroom floor.",
    "Send the discharge papers to {street}, {city}, {state_zip}.",
    "My social security number is {ssn}.",
    "The appointment with {t_first} is on {date}.",
    "I moved to {city} after the divorce.",
    "My ex {f_full} lives at {street}.",
    "{f_first} said she would call me at {phone} tonight.",
    "I emailed {t_first} at {email} but she never answered.",
    "My mom's number is {phone}.",
    "My case worker is {f_full} and her email is {email}.",
    "I told {f_first} about the pills.",
    "We met at {street} on {date}.",
    "{t_first} thinks I should go back to the hospital.",
    "My new address is {street}, {city}.",
)
_ASSISTANT_PII = (
    "It sounds like {t_first} really cares about you.",
    "Have you been able to talk to Dr. {t_last} about this?",
    "Would it help to let {f_first} know how you feel?",
    "I hear how hard things have been since you left {city}.",
)
# Held-out templates: written after the recognizers were tuned on the ones above and never
# used for tuning; the bench reports them separately as a check against over-fitting.
_USER_PII_HELDOUT = (
    "Last week {f_full} showed up at my apartment at {street} and wouldn't leave.",
    "Can you send the safety plan to {email}?",
    "Her cell is {phone}, please don't call it after 9.",
    "I grew up in {city} but I hate it there.",
    "{t_full} is the only psychiatrist who listens to me.",
    "I saw Dr. {t_last} on {date} and she changed my meds.",
    "My DOB is {date} and my SSN is {ssn}.",
    "Honestly {f_first} is the reason I'm still here.",
    "If anything happens, contact {f_full} at {phone}.",
    "I'm staying at my cousin's place, {street}, {city} {state_zip}.",
    "I keep getting messages from {email} and it scares me.",
    "Ask {t_first} if she got my voicemail.",
)
_ASSISTANT_PII_HELDOUT = (
    "When you spoke with {f_first}, how did that feel?",
    "It might help to share this plan with Dr. {t_last} at your next visit.",
)
_ASSISTANT_PLAIN = (
    "Thank you for sharing that with me.",
    "If you are in danger right now, please call 988 or go to the nearest emergency room.",
    "That sounds really painful. Can you tell me more?",
    "Are you safe right now?",
)
_SLOT_LABEL = {
    "t_full": "PERSON", "t_first": "PERSON", "t_last": "PERSON", "f_full": "PERSON", "f_first": "PERSON",
    "phone": "PHONE", "email": "EMAIL", "street": "ADDRESS", "city": "LOCATION", "state_zip": "ADDRESS",
    "ssn": "SSN", "date": "DATE",
}
_SLOT = re.compile(r"\{(\w+)\}")


def _ordinal(d: int) -> str:
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def _fake_date(fake: Any, rng: random.Random) -> str:
    d = fake.date_between(start_date="-70y", end_date="+1y")
    form = rng.randrange(5)
    if form == 0:
        return f"{d:%B} {_ordinal(d.day)}, {d.year}"
    if form == 1:
        return f"{d.day} {d:%B} {d.year}"
    if form == 2:
        return f"{d:%B %d, %Y}"
    if form == 3:
        return f"{d:%m/%d/%Y}"
    return f"{d:%Y-%m-%d}"


def _persona(fake: Any, rng: random.Random) -> dict[str, str]:
    t_first, t_last = fake.first_name(), fake.last_name()
    f_first, f_last = fake.first_name(), fake.last_name()
    return {
        "t_full": f"{t_first} {t_last}", "t_first": t_first, "t_last": t_last,
        "f_full": f"{f_first} {f_last}", "f_first": f_first,
        "phone": fake.phone_number(), "email": fake.email(), "street": fake.street_address(), "city": fake.city(),
        "state_zip": f"{fake.state_abbr()} {fake.zipcode()}", "ssn": fake.ssn(), "date": _fake_date(fake, rng),
    }


def _fill(template: str, values: dict[str, str]) -> tuple[str, list[Span]]:
    out: list[str] = []
    spans: list[Span] = []
    pos = 0
    n = 0
    for m in _SLOT.finditer(template):
        lit = template[pos:m.start()]
        out.append(lit)
        n += len(lit)
        val = values[m.group(1)]
        spans.append(Span(n, n + len(val), _SLOT_LABEL[m.group(1)]))
        out.append(val)
        n += len(val)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def _message(parts: Sequence[tuple[str, bool]], values: dict[str, str]) -> LabelledText:
    """Join sentences (template, is_keep) with single spaces, tracking gold spans."""
    text = ""
    spans: list[Span] = []
    keep: list[str] = []
    for tpl, is_keep in parts:
        if text:
            text += " "
        if is_keep:
            keep.append(tpl)
            text += tpl
            continue
        s, sp = _fill(tpl, values)
        spans.extend(Span(x.start + len(text), x.end + len(text), x.label) for x in sp)
        text += s
    return LabelledText(text, spans, keep)


def generate_therapy_conversations(n: int, seed: int = 13, heldout: bool = False) -> list[list[tuple[str, LabelledText]]]:
    """n conversations of 4-8 turns: (role, labelled message). Seeded: same n/seed -> same data.
    ``heldout`` uses the templates never used for tuning."""
    from faker import Faker

    user_pii = _USER_PII_HELDOUT if heldout else _USER_PII
    assistant_pii = _ASSISTANT_PII_HELDOUT if heldout else _ASSISTANT_PII

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    convs = []
    for _ in range(n):
        values = _persona(fake, rng)
        turns = []
        for t in range(rng.randint(4, 8)):
            if t % 2 == 0:
                parts = [(rng.choice(user_pii), False) for _ in range(rng.randint(0, 2))]
                parts += [(rng.choice(CRISIS_SENTENCES), True) for _ in range(rng.randint(0 if parts else 1, 2))]
                rng.shuffle(parts)
                turns.append(("user", _message(parts, values)))
            else:
                pool = assistant_pii if rng.random() < 0.5 else _ASSISTANT_PLAIN
                turns.append(("assistant", _message([(rng.choice(pool), pool is _ASSISTANT_PLAIN)], values)))
        convs.append(turns)
    return convs


# ---------------------------------------------------------------------------------- scoring
def _word_mask(text: str, spans: Iterable[tuple[int, int]]) -> set[int]:
    return {i for s, e in spans for i in range(s, e) if text[i].isalnum()}


def _covered(text: str, span: tuple[int, int], mask: set[int]) -> float:
    idx = [i for i in range(span[0], span[1]) if text[i].isalnum()]
    return 1.0 if not idx else sum(i in mask for i in idx) / len(idx)


@dataclass
class Tally:
    gold: int = 0
    hit: int = 0
    gold_chars: int = 0
    hit_chars: int = 0
    pred: int = 0
    pred_ok: int = 0

    @property
    def recall(self) -> float | None:
        return self.hit / self.gold if self.gold else None

    @property
    def char_recall(self) -> float | None:
        return self.hit_chars / self.gold_chars if self.gold_chars else None

    @property
    def precision(self) -> float | None:
        return self.pred_ok / self.pred if self.pred else None


def score(items: Sequence[LabelledText], predictions: Sequence[Sequence[tuple[int, int, str]]]) -> dict[str, Tally]:
    """Per-label tallies (+ "ALL" over TARGETED gold labels and all predictions).

    Recall: a gold span is found when >= 50% of its alphanumeric characters are inside predicted
    spans of any type (masked is masked). Precision: a predicted span is correct when >= 50% of
    its characters are inside gold spans of any type. Labels: GOLD_LABELS / PRED_LABELS.
    """
    tallies: dict[str, Tally] = {}
    for item, preds in zip(items, predictions):
        pmask = _word_mask(item.text, [(s, e) for s, e, _ in preds])
        gmask = _word_mask(item.text, [(g.start, g.end) for g in item.spans])
        for g in item.spans:
            keys = (g.label,) + (("ALL",) if g.label in TARGETED else ()) + (("NINE",) if g.label in NINE else ())
            for key in keys:
                t = tallies.setdefault(key, Tally())
                cov = _covered(item.text, (g.start, g.end), pmask)
                n_chars = sum(1 for i in range(g.start, g.end) if item.text[i].isalnum())
                t.gold += 1
                t.hit += cov >= COVERED
                t.gold_chars += n_chars
                t.hit_chars += round(cov * n_chars)
        for s, e, label in preds:
            for key in (label, "ALL"):
                t = tallies.setdefault(key, Tally())
                t.pred += 1
                t.pred_ok += _covered(item.text, (s, e), gmask) >= COVERED
    return tallies


def tallies_table(tallies: dict[str, Tally]) -> list[dict[str, Any]]:
    """Rows {label, gold, recall, char_recall, predicted, precision} sorted with ALL last."""
    rows = []
    for label in sorted(tallies, key=lambda k: (k in ("ALL", "NINE"), k)):
        t = tallies[label]
        rows.append({"label": label, "gold": t.gold, "recall": _r(t.recall), "char_recall": _r(t.char_recall),
                     "predicted": t.pred, "precision": _r(t.precision)})
    return rows


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def to_pred(findings: Iterable[Any]) -> list[tuple[int, int, str]]:
    """Findings (or Presidio results) -> (start, end, report label)."""
    return [(f.start, f.end, PRED_LABELS.get(f.entity_type, f.entity_type)) for f in findings]
