"""What each stage of a run gets: its step budget, epochs and learning rate (no heavy imports).

- **Steps.** ``--max-steps`` is one budget for phase B, split across the SFT stages of the run by
  their curriculum weights, renormalised over the stages present, rounded by largest remainders so
  the counts sum to the budget. Phases A and C each take ``--max-steps`` as their own budget;
  ``--stage N`` gives the whole budget to that stage.
- **Epochs and learning rate** come from the stage's entry in ``curriculum.json`` (the
  ``curriculum_stages`` seed), else the product spec's defaults below; ``--epochs`` / ``--lr``, when
  given, override every stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

if TYPE_CHECKING:
    from lakehouse.training.config import TrainConfig
    from lakehouse.training.release import Release, StageSpec

# The product spec's per-stage defaults (epochs, learning rate), used only for a curriculum.json
# written before the seed carried them; the seed (seeds/release/curriculum_stages.csv) is the source.
SPEC_DEFAULTS: dict[tuple[str, int | None], tuple[float, float]] = {
    ("A", None): (1.0, 2e-5),
    ("B", 1): (3.0, 2e-4), ("B", 2): (2.0, 1e-4), ("B", 3): (2.0, 1e-4), ("B", 4): (2.0, 5e-5),
    ("B", 5): (2.0, 5e-5), ("B", 6): (2.0, 5e-5), ("B", 7): (2.0, 5e-5),
    ("C", None): (1.0, 5e-5),
}
FALLBACK = (1.0, 2e-5)


@dataclass(frozen=True)
class StagePlan:
    """The hyperparameters one stage trains with, and where each came from."""

    dirname: str
    max_steps: int | None       # None: train for ``epochs``
    epochs: float
    lr: float
    source: str                 # e.g. "curriculum.json", "spec default", "--lr"
    budget: int | None = None   # the phase budget this stage's steps came from
    weight: float | None = None  # the stage's renormalised share of the budget

    def log_line(self) -> str:
        steps = (f"{self.max_steps} of {self.budget} phase-B steps (weight {self.weight:.3f})"
                 if self.budget is not None and self.weight is not None
                 else f"{self.max_steps} steps" if self.max_steps is not None else f"{self.epochs:g} epochs")
        return f"{self.dirname}: {steps}, lr {self.lr:g} ({self.source})"


def largest_remainder(budget: int, weights: Mapping[Hashable, float]) -> dict[Hashable, int]:
    """``budget`` split in proportion to ``weights`` (renormalised), integers summing to ``budget``.

    Floors first, then one more step to the largest remainders; ties go to the larger weight, then
    to the earlier key. Zero or negative weights get nothing (all zero: equal shares).
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    keys = list(weights)
    if not keys:
        return {}
    w = [max(float(weights[k]), 0.0) for k in keys]
    total = sum(w)
    if total <= 0:
        w, total = [1.0] * len(keys), float(len(keys))
    exact = [budget * x / total for x in w]
    out = [int(e) for e in exact]
    rest = budget - sum(out)
    order = sorted(range(len(keys)), key=lambda i: (-(exact[i] - out[i]), -w[i], i))
    for i in order[:rest]:
        out[i] += 1
    return dict(zip(keys, out))


def stage_entry(curriculum: Mapping[str, Any], phase: str, stage: int | None) -> dict[str, Any]:
    for ph in curriculum.get("phases") or []:
        if str(ph.get("phase")) != phase:
            continue
        for st in ph.get("stages") or []:
            if (st.get("stage") is None and stage is None) or (stage is not None and st.get("stage") == stage):
                return dict(st)
    return {}


def plan_hyperparameters(release: "Release", plan: Sequence["StageSpec"], cfg: "TrainConfig") -> dict[str, StagePlan]:
    """Steps, epochs and learning rate of every planned stage (keyed by stage folder name)."""
    b_specs = [s for s in plan if s.phase == "B"]
    b_steps: dict[Hashable, int] = {}
    shares: dict[Hashable, float] = {}
    if cfg.max_steps and b_specs and cfg.stage is None:
        weights = {s.dirname: s.weight for s in b_specs}
        b_steps = largest_remainder(cfg.max_steps, weights)
        total = sum(max(w, 0.0) for w in weights.values()) or float(len(weights))
        shares = {k: (max(w, 0.0) / total if total else 0.0) for k, w in weights.items()}
    out: dict[str, StagePlan] = {}
    for s in plan:
        entry = stage_entry(release.curriculum, s.phase, s.stage)
        spec_epochs, spec_lr = SPEC_DEFAULTS.get((s.phase, s.stage), FALLBACK)
        sources = []
        if cfg.epochs is not None:
            epochs, e_src = float(cfg.epochs), "--epochs"
        elif entry.get("epochs") is not None:
            epochs, e_src = float(entry["epochs"]), "curriculum.json"
        else:
            epochs, e_src = spec_epochs, "spec default"
        if cfg.lr is not None:
            lr, l_src = float(cfg.lr), "--lr"
        elif entry.get("learning_rate") is not None:
            lr, l_src = float(entry["learning_rate"]), "curriculum.json"
        else:
            lr, l_src = spec_lr, "spec default"
        sources = sorted({e_src, l_src})
        if s.dirname in b_steps:
            out[s.dirname] = StagePlan(s.dirname, b_steps[s.dirname], epochs, lr, "epochs/lr: " + ", ".join(sources),
                                       budget=cfg.max_steps, weight=shares[s.dirname])
        else:
            out[s.dirname] = StagePlan(s.dirname, cfg.max_steps, epochs, lr, "epochs/lr: " + ", ".join(sources))
    return out


# -- phase C: which preference method the data calls for -----------------------------------------------
PREFERENCE_METHODS = ("auto", "dpo", "kto", "orpo", "simpo")


def choose_preference_method(requested: str, has_pairs: bool, has_unpaired: bool) -> tuple[str, str]:
    """(method, why). ``auto``: pairs only -> DPO; unpaired labelled rows (KTO) only -> KTO; both ->
    KTO over all of it (each pair gives a desirable and an undesirable completion), so no row is
    left out. ORPO and SimPO (reference-free) are chosen explicitly and need pairs."""
    from lakehouse.training.config import TrainingConfigError

    if requested not in PREFERENCE_METHODS:
        raise TrainingConfigError(f"--preference-method must be one of {', '.join(PREFERENCE_METHODS)}")
    if not has_pairs and not has_unpaired:
        raise TrainingConfigError("phase C has no preference pairs and no labelled (KTO) rows in the train split")
    if requested == "auto":
        if has_pairs and has_unpaired:
            return "kto", "the release holds pairs and unpaired labelled rows: KTO uses both"
        if has_unpaired:
            return "kto", "the release holds unpaired labelled rows only"
        return "dpo", "the release holds chosen/rejected pairs only"
    if requested in ("dpo", "orpo", "simpo") and not has_pairs:
        raise TrainingConfigError(f"--preference-method {requested} needs chosen/rejected pairs; this release has only "
                                  "unpaired labelled rows: use kto (or auto)")
    return requested, "asked for with --preference-method"
