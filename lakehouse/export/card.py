"""The dataset card (``README.md`` at the release root): Hugging Face ``configs`` + declared features.

One config per kind present (``sft``, ``kto``, ``preference``, ``pretrain``), each with ``train``,
``validation`` (the release's ``val``) and ``test`` splits over the Parquet files, so
``datasets.load_dataset(<release dir>, "sft")`` loads the three splits. The features are the
config's unified schema (every shard's fields merged), so records whose metadata differ still load.

The card states what the release is: counts, families, license mix, provenance and the gates that
passed. It never states a signoff: that comes after publication (``lakehouse release show``).
Everything here is a function of the release content: a rebuild gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONFIGS = ("sft", "kto", "preference", "pretrain")
SPLITS = ("train", "val", "test")
HF_SPLIT = {"train": "train", "val": "validation", "test": "test"}

CONFIG_DESCRIPTIONS = {
    "sft": "ChatML conversations (`messages`) for supervised fine-tuning (phase B)",
    "kto": "unpaired conversations with a boolean `label` (desirable or not) for KTO (phase C)",
    "preference": "`prompt` / `chosen` / `rejected` pairs for DPO (phase C); chosen/rejected hold the assistant turn(s)",
    "pretrain": "plain `text` for continued pretraining (phase A)",
}

# SPDX-ish tags of the license allow-list -> Hugging Face license ids
HF_LICENSES = {"mit": "mit", "apache-2.0": "apache-2.0", "cc0-1.0": "cc0-1.0", "cc-by-4.0": "cc-by-4.0",
               "cc-by-sa-4.0": "cc-by-sa-4.0", "bsd-2-clause": "bsd-2-clause", "bsd-3-clause": "bsd-3-clause",
               "pddl-1.0": "pddl", "odc-by-1.0": "odc-by", "openrail": "openrail"}


@dataclass
class CardInputs:
    version: str                                        # "" keeps the card version-free (byte-identical rebuilds)
    seed: int
    counts: dict[str, dict[str, int]]                   # config -> split -> records
    parquet_files: dict[str, dict[str, list[str]]]      # config -> split -> keys
    schemas: dict[str, Any]                             # config -> polars schema
    families: list[dict[str, Any]]                      # family, config, split, records
    licenses: list[dict[str, Any]]                      # license_tag, records
    sources: list[dict[str, Any]]                       # source_name, source_family, license_tag, records
    provenance: dict[str, Any]                          # package_version, registry_version, pii_model, ...
    gates: list[str] = field(default_factory=list)
    split_bytes: dict[str, dict[str, int]] = field(default_factory=dict)   # config -> split -> Parquet bytes


def _hf_dtype(dtype: Any) -> Any:
    """A polars dtype as the value of a Hugging Face YAML feature (``dtype``/``list``/``struct``)."""
    import polars as pl

    if isinstance(dtype, pl.Struct):
        return {"struct": [{"name": f.name, **_hf_dtype(f.dtype)} for f in dtype.fields]}
    if isinstance(dtype, pl.List):
        inner = _hf_dtype(dtype.inner)
        if "dtype" in inner:
            return {"list": inner["dtype"]}
        if "struct" in inner:
            return {"list": inner["struct"]}
        return {"list": inner}
    simple = {pl.String: "string", pl.Boolean: "bool", pl.Int64: "int64", pl.Int32: "int32", pl.Int16: "int16",
              pl.Int8: "int8", pl.UInt64: "uint64", pl.UInt32: "uint32", pl.Float64: "float64",
              pl.Float32: "float32", pl.Date: "date32", pl.Null: "null"}
    for k, v in simple.items():
        if dtype == k:
            return {"dtype": v}
    if isinstance(dtype, pl.Datetime):
        return {"dtype": f"timestamp[{dtype.time_unit}]"}
    return {"dtype": "string"}


def hf_features(schema: Any) -> list[dict[str, Any]]:
    """The YAML ``features`` list of a config (the format of ``datasets.Features._to_yaml_list``)."""
    return [{"name": name, **_hf_dtype(dt)} for name, dt in schema.items()]


def card_yaml(inp: CardInputs) -> dict[str, Any]:
    present = [c for c in CONFIGS if c in inp.schemas]
    licenses = sorted({HF_LICENSES.get(str(r["license_tag"]).lower(), "other") for r in inp.licenses}) or ["other"]
    configs, infos = [], []
    for c in present:
        entry: dict[str, Any] = {"config_name": c}
        if c == ("sft" if "sft" in present else present[0]):
            entry["default"] = True
        splits = [s for s in SPLITS if inp.parquet_files[c].get(s)]  # datasets cannot load an empty split
        entry["data_files"] = [{"split": HF_SPLIT[s], "path": list(inp.parquet_files[c][s])} for s in splits]
        configs.append(entry)
        infos.append({"config_name": c, "features": hf_features(inp.schemas[c]),
                      "splits": [{"name": HF_SPLIT[s], "num_bytes": int(inp.split_bytes.get(c, {}).get(s, 0)),
                                  "num_examples": int(inp.counts.get(c, {}).get(s, 0))} for s in splits]})
    return {"pretty_name": f"lakehouse release {inp.version}".strip(), "license": licenses if len(licenses) > 1 else licenses[0],
            "tags": ["mental-health", "conversational", "chatml", "lakehouse"],
            "configs": configs, "dataset_info": infos}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def render_card(inp: CardInputs) -> bytes:
    import yaml

    meta = yaml.safe_dump(card_yaml(inp), sort_keys=False, allow_unicode=True, width=120)
    present = [c for c in CONFIGS if c in inp.schemas]
    total = sum(sum(v.values()) for v in inp.counts.values())
    lines = [
        "---", meta.rstrip("\n"), "---", "",
        f"# lakehouse release {inp.version}".rstrip(), "",
        f"{total} records compiled by the lakehouse pipeline (land -> dbt build -> gates -> publish). "
        "Every file is listed with its sha256 in `manifest.json` (which also names the version); "
        f"`lakehouse release verify {inp.version or '<version>'}` re-checks them.", "",
        "## Loading", "",
        "```python",
        "from datasets import load_dataset",
        "",
    ]
    lines += [f'{c} = load_dataset("path/to/{inp.version or "release"}", "{c}")   # train / validation / test' for c in present]
    lines += ["```", "",
              "The configs read the Parquet files under `parquet/`; the same records are in the JSON Lines shards "
              "under `shards/<config>/<split>/<family>/` (one file per shard, same order), and one file per "
              "config and split under `compiled/<config>/<split>.jsonl`. `validation` is the release's `val` split; "
              "a split with no record of a config is left out of that config (`datasets` cannot load an empty split).", "",
              "## Configs", ""]
    lines.append(_table(["config", "what", "train", "validation", "test"],
                        [[f"`{c}`", CONFIG_DESCRIPTIONS[c]] + [inp.counts.get(c, {}).get(s, 0) for s in SPLITS]
                         for c in present]))
    lines += ["", "## Families", ""]
    fam: dict[tuple[str, str], dict[str, int]] = {}
    for r in inp.families:
        fam.setdefault((r["family"], r["config"]), {})[r["split"]] = int(r["records"])
    lines.append(_table(["family", "config", "train", "val", "test"],
                        [[f, c] + [v.get(s, 0) for s in SPLITS] for (f, c), v in sorted(fam.items())]))
    lines += ["", "## Licenses", "",
              "Records by the license of their source (deny by default: only allow-listed licenses are released).", ""]
    lines.append(_table(["license", "records"], [[r["license_tag"], r["records"]] for r in inp.licenses]))
    lines += ["", "## Provenance", "",
              "Every record's `metadata` names its source, file sha256, row number, landing id and license, and "
              "the `transform` that produced it.", ""]
    lines.append(_table(["setting", "value"], [[k, f"`{v}`"] for k, v in sorted(inp.provenance.items())]
                        + [["split seed", f"`{inp.seed}`"]]))
    lines += ["", ""]
    lines.append(_table(["source", "family", "license", "records"],
                        [[r["source_name"], r["source_family"], r["license_tag"], r["records"]] for r in inp.sources]))
    lines += ["", "## Gates passed", "",
              "The release was published only because every release gate passed:", ""]
    lines += [f"- `{g}`" for g in inp.gates] or ["- (none recorded)"]
    lines += ["", "## Reports", "",
              "`reports/index.html` (open it in a browser; it works offline) plots lengths, quarantine, "
              "redactions, duplicates and coverage; `reports/*.json` hold the numbers.", "",
              "Clinical review decisions are recorded after publication: see `lakehouse release show`.", ""]
    return "\n".join(lines).encode("utf-8")
