"""Edge-case "resulting chats": a model plays a difficult client and a therapist who follows the crisis
protocol, from separate prompts, turn by turn (catalogue: lakehouse/config/edge_cases.yml).

    cat = load_catalogue()
    report = generate_edge_cases(model, select_categories("all", cat), cat, per_category=4, seed=7,
                                 output="ec.jsonl", turns=3, chat_filter=quality_chat_filter())

Records are ChatML (``messages``: user = client, assistant = therapist) with ``metadata``:
``is_training_edge_case``, ``category``, ``difficulty``, ``scenario``, ``model``/``model_hash``,
``seed``/``record_seed``, ``sampling``, ``generator``/``generator_version``, ``template_hash``,
``generation_key``, ``generation_filter`` ("passed" | "failed" with ``--keep-all``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from lakehouse.generate import GENERATOR_VERSION, GeneratorError
from lakehouse.generate.filters import ChatFilter
from lakehouse.generate.model import ChatModel, Messages, derive_seed
from lakehouse.generate.runio import Progress, ResumableOutput

log = logging.getLogger(__name__)

DIFFICULTIES = ("very_high", "high", "moderate")
VARIABLES = ("presenting_problem", "client_traits", "setting", "risk_factors")
GENERATOR = "lakehouse.generate.edge_cases"


def canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    difficulty: str
    origin: str
    description: str
    protocol: str
    variables: Mapping[str, tuple[str, ...]]
    templates: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    categories: Mapping[str, Category]
    prompts: Mapping[str, str]
    default_turns: int
    catalogue_hash: str


def load_catalogue(path: str | None = None) -> Catalogue:
    """edge_cases.yml (the packaged one, or $LAKEHOUSE_CONFIG_DIR's) validated: every category has a known
    difficulty, all four variables and at least one template; the prompts have their placeholders."""
    import yaml

    from lakehouse.config import config_path

    text = open(path, encoding="utf-8").read() if path else config_path("edge_cases.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    defaults = raw.get("defaults") or {}
    dvars = defaults.get("variables") or {}
    dtemplates = tuple(defaults.get("scenario_templates") or ())
    prompts = {k: str(v) for k, v in (raw.get("prompts") or {}).items()}
    for k in ("client_system", "client_opening", "therapist_system"):
        if not prompts.get(k):
            raise GeneratorError(f"edge_cases.yml: prompts.{k} is missing")
    cats: dict[str, Category] = {}
    for name, c in (raw.get("categories") or {}).items():
        c = c or {}
        diff = str(c.get("difficulty", ""))
        if diff not in DIFFICULTIES:
            raise GeneratorError(f"edge_cases.yml: category {name}: difficulty {diff!r} (one of {', '.join(DIFFICULTIES)})")
        cv = c.get("variables") or {}
        variables = {}
        for v in VARIABLES:
            vals = tuple(str(x) for x in (cv.get(v) or dvars.get(v) or ()))
            if not vals:
                raise GeneratorError(f"edge_cases.yml: category {name}: no values for {v}")
            variables[v] = vals
        templates = tuple(c.get("scenario_templates") or dtemplates)
        if not templates:
            raise GeneratorError(f"edge_cases.yml: category {name}: no scenario template")
        cats[str(name)] = Category(name=str(name), label=str(c.get("label") or name), difficulty=diff,
                                   origin=str(c.get("origin", "team")), description=str(c.get("description", "")),
                                   protocol=str(c.get("protocol", "")), variables=variables, templates=templates,
                                   raw=dict(c))
    if not cats:
        raise GeneratorError("edge_cases.yml has no categories")
    return Catalogue(categories=cats, prompts=prompts, default_turns=int(defaults.get("turns", 3)),
                     catalogue_hash=canonical_hash(raw))


def select_categories(spec: str, catalogue: Catalogue) -> list[Category]:
    """``all`` or a comma list of category names (unknown names: one-line error listing the known ones)."""
    spec = (spec or "").strip()
    if spec in ("", "all"):
        return list(catalogue.categories.values())
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in catalogue.categories]
    if unknown:
        raise GeneratorError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                             f"(known: {', '.join(catalogue.categories)})")
    return [catalogue.categories[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class Scenario:
    variables: Mapping[str, str]
    template_index: int
    text: str


def draw_scenario(category: Category, rng: random.Random) -> Scenario:
    values = {v: rng.choice(category.variables[v]) for v in VARIABLES}
    ti = rng.randrange(len(category.templates))
    return Scenario(values, ti, category.templates[ti].format(**values))


def template_hash(catalogue: Catalogue, category: Category, scenario: Scenario) -> str:
    return canonical_hash({"prompts": dict(catalogue.prompts), "category": dict(category.raw),
                           "template": category.templates[scenario.template_index]})


def _client_view(system: str, opening: str, turns: Sequence[tuple[str, str]]) -> Messages:
    """The client model sees the therapist as 'user' and itself as 'assistant'."""
    msgs: Messages = [{"role": "system", "content": system}, {"role": "user", "content": opening}]
    for role, text in turns:
        msgs.append({"role": "assistant" if role == "client" else "user", "content": text})
    return msgs


def _therapist_view(system: str, turns: Sequence[tuple[str, str]]) -> Messages:
    msgs: Messages = [{"role": "system", "content": system}]
    for role, text in turns:
        msgs.append({"role": "user" if role == "client" else "assistant", "content": text})
    return msgs


def generate_chat(model: ChatModel, catalogue: Catalogue, category: Category, scenario: Scenario, *, turns: int,
                  record_seed: int) -> Messages:
    """``turns`` client/therapist exchanges, each turn from its role's own prompt; ChatML user/assistant."""
    fmt = {"label": category.label, "difficulty": category.difficulty.replace("_", " "), "scenario": scenario.text,
           "protocol": category.protocol}
    client_sys = catalogue.prompts["client_system"].format(**fmt).strip()
    therapist_sys = catalogue.prompts["therapist_system"].format(**fmt).strip()
    opening = catalogue.prompts["client_opening"].format(**fmt).strip()
    history: list[tuple[str, str]] = []
    for t in range(turns):
        client = model.chat(_client_view(client_sys, opening, history), seed=derive_seed(record_seed, t, "client"))
        history.append(("client", client))
        therapist = model.chat(_therapist_view(therapist_sys, history), seed=derive_seed(record_seed, t, "therapist"))
        history.append(("therapist", therapist))
    return [{"role": "user" if r == "client" else "assistant", "content": x} for r, x in history]


@dataclass
class RunReport:
    planned: int = 0
    resumed: int = 0
    written: int = 0
    failed_kept: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def run_signature(model: ChatModel, seed: int, catalogue: Catalogue, turns: int, generator: str = GENERATOR) -> dict:
    return {"generator": generator, "generator_version": GENERATOR_VERSION, "model": model.identity["model"],
            "model_hash": model.identity.get("model_hash"), "model_endpoint": model.identity.get("model_endpoint"),
            "seed": seed, "sampling": model.sampling.as_dict(), "catalogue_hash": catalogue.catalogue_hash,
            "turns": turns}


def generate_edge_cases(model: ChatModel, categories: Sequence[Category], catalogue: Catalogue, *, per_category: int,
                        seed: int, output: str, turns: int | None = None, keep_all: bool = False,
                        chat_filter: ChatFilter, progress: bool = True) -> RunReport:
    """Generate ``per_category`` chats per category into ``output`` (append-only, resumable)."""
    if per_category < 1:
        raise GeneratorError("--per-category must be at least 1")
    turns = turns or catalogue.default_turns
    if turns < 1:
        raise GeneratorError("--turns must be at least 1")
    sig = run_signature(model, seed, catalogue, turns)
    report = RunReport(planned=per_category * len(categories))
    with ResumableOutput(output, sig) as out, Progress("edge-cases", report.planned, enabled=progress) as prog:
        report.resumed = sum(1 for c in categories for i in range(per_category) if out.has(f"{c.name}:{i}"))
        prog.skip(report.resumed)
        for cat in categories:
            for i in range(per_category):
                key = f"{cat.name}:{i}"
                if out.has(key):
                    continue
                record_seed = derive_seed(seed, cat.name, i)
                scenario = draw_scenario(cat, random.Random(record_seed))
                messages = generate_chat(model, catalogue, cat, scenario, turns=turns, record_seed=record_seed)
                empty = [j for j, m in enumerate(messages) if not m["content"].strip()]
                if empty:
                    result_passed, reasons, scores = False, [("empty_turn", f"turns {empty[:5]}")], {}
                else:
                    r = chat_filter(messages)
                    result_passed, reasons, scores = r.passed, list(r.reasons), dict(r.scores)
                for code, _ in reasons:
                    report.reasons[code] = report.reasons.get(code, 0) + 1
                if result_passed or keep_all:
                    meta = {**sig, "is_training_edge_case": True, "category": cat.name, "category_label": cat.label,
                            "difficulty": cat.difficulty, "category_origin": cat.origin,
                            "scenario": dict(scenario.variables), "record_seed": record_seed,
                            "template_hash": template_hash(catalogue, cat, scenario),
                            "generation_key": key, "generation_filter": "passed" if result_passed else "failed"}
                    if reasons:
                        meta["generation_filter_reasons"] = [list(x) for x in reasons]
                    if scores:
                        meta["generation_filter_scores"] = scores
                    rec_id = f"edge-{cat.name}-{seed}-{i}"
                    out.write(key, {"id": rec_id, "messages": messages, "metadata": meta})
                    report.written += 1
                    report.failed_kept += 0 if result_passed else 1
                else:
                    out.skip(key, "filtered", [list(x) for x in reasons])
                    report.dropped += 1
                log.info("edge case %s: %s", key, "kept" if result_passed else ("kept (failed)" if keep_all else "dropped"))
                prog.advance()
    return report
