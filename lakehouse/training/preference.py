"""Phase C: DPO, KTO, ORPO or SimPO from TRL, chosen by what the release's preference data holds.

Pairs (``prompt``/``chosen``/``rejected``) feed DPO, ORPO (``trl.experimental.orpo``) or SimPO (CPO with
``loss_type="simpo"``, ``trl.experimental.cpo``). Unpaired labelled rows (the release's KTO shards:
``messages`` + ``label``) feed KTO; when a release holds both, KTO trains on all of it, each pair giving a
desirable and an undesirable completion. torch / trl are imported inside functions only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator

from lakehouse.training.release import Release, StageSpec

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

log = logging.getLogger(__name__)


def kto_files(release: Release, spec: StageSpec, split: str = "train") -> tuple[str, ...]:
    """The stage's unpaired labelled shards (curriculum.json ``kto_files``) of ``split``."""
    out: list[str] = []
    entries = release.entries()
    for ph in release.curriculum.get("phases") or []:
        if str(ph.get("phase")) != spec.phase:
            continue
        for st in ph.get("stages") or []:
            if st.get("stage") != spec.stage:
                continue
            for fam in st.get("families") or []:
                for key in (fam.get("kto_files") or {}).get(split) or []:
                    if key in entries and entries[key].records != 0:
                        out.append(key)
    return tuple(out)


def _files(release: Release, keys: tuple[str, ...]) -> list[dict[str, str]]:
    entries = release.entries()
    return [{"key": k, "uri": release.file_uri(k), "sha256": entries[k].sha256} for k in keys
            if entries[k].records != 0]


def iter_kto_rows(kto: list[dict[str, str]], pairs: list[dict[str, str]], root: str) -> Iterator[dict[str, Any]]:
    """KTO rows: the unpaired shards as they are, then every pair as two rows (chosen: desirable)."""
    from lakehouse.training.data import iter_payloads

    yield from iter_payloads(kto, "kto", root)
    for p in iter_payloads(pairs, "preference", root):
        yield {"prompt": p["prompt"], "completion": p["chosen"], "label": True}
        yield {"prompt": p["prompt"], "completion": p["rejected"], "label": False}


def kto_dataset(release: Release, spec: StageSpec, *, include_pairs: bool, streaming: bool,
                cache_dir: str | None, seed: int) -> "Dataset | IterableDataset":
    from datasets import Dataset, IterableDataset

    from lakehouse.training.data import kind_features

    kwargs = {"kto": _files(release, kto_files(release, spec)),
              "pairs": _files(release, spec.files) if include_pairs else [], "root": release.storage.root}
    if streaming:
        return IterableDataset.from_generator(iter_kto_rows, features=kind_features("kto"), gen_kwargs=kwargs)
    ds = Dataset.from_generator(iter_kto_rows, features=kind_features("kto"), gen_kwargs=kwargs, cache_dir=cache_dir)
    return ds.shuffle(seed=seed)


def kto_weights(ds: Any) -> dict[str, float]:
    """Desirable/undesirable weights so that weighted counts balance (TRL's advice: ratio in [1, 4/3])."""
    if not hasattr(ds, "__len__"):
        return {}
    labels = ds["label"]
    n_d = sum(1 for x in labels if x)
    n_u = len(labels) - n_d
    if not n_d or not n_u:
        return {}
    return {"desirable_weight": 1.0, "undesirable_weight": round(n_d / n_u, 4)}


def preference_config(method: str, common: dict[str, Any], beta: float, extra: dict[str, Any] | None = None) -> Any:
    if method == "dpo":
        from trl import DPOConfig

        return DPOConfig(beta=beta, **common)
    if method == "kto":
        from trl import KTOConfig

        return KTOConfig(beta=beta, **{**common, **(extra or {})})
    if method == "orpo":
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig(beta=beta, **common)
    if method == "simpo":
        from trl.experimental.cpo import CPOConfig

        # SimPO = CPO's simpo loss without the BC term (cpo_alpha=0), reference-free
        return CPOConfig(loss_type="simpo", cpo_alpha=0.0, beta=max(beta, 2.0), **common)
    raise ValueError(f"unknown preference method {method!r}")


def preference_trainer(method: str, **kw: Any) -> Any:
    if method == "dpo":
        from trl import DPOTrainer

        return DPOTrainer(**kw)
    if method == "kto":
        from trl import KTOTrainer

        return KTOTrainer(**kw)
    if method == "orpo":
        from trl.experimental.orpo import ORPOTrainer

        return ORPOTrainer(**kw)
    if method == "simpo":
        from trl.experimental.cpo import CPOTrainer

        return CPOTrainer(**kw)
    raise ValueError(f"unknown preference method {method!r}")
