"""``reports/index.html``: the release report people look at. One self-contained HTML file (inline CSS
and inline SVG plots, no script, no network), readable offline.

Plots (matplotlib, Agg backend, SVG with a fixed hash salt and no date, so a rebuild gives the same
bytes): turns / characters / tokens per family, split and stage (histograms + percentile tables),
quarantine by reason, redactions by type, exact and near-duplicate rates (with example ids to pass to
``lakehouse trace``), the coverage matrix, quality-score distributions when records carry
``metadata.quality``, and the bias and cultural-competency summary of ``reports/bias.json``
(mention rates by family, stereotyping, languages, change against the baseline). No message text is ever written into the report: ids, counts and numbers only.

Token counts come from a real tokenizer when one is named (a local folder holding ``tokenizer.json``,
the ``tokenizer`` dbt var or ``lakehouse build --tokenizer``); otherwise they are characters / 4 and
labelled as an estimate.
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import duckdb
    import polars as pl

log = logging.getLogger(__name__)

PERCENTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SPLITS = ("train", "val", "test")
STATUS_COLORS = {"present": "#2f855a", "partial": "#b7791f", "missing": "#c53030"}


@dataclass
class ReportInputs:
    release: "duckdb.DuckDBPyRelation"
    audit: dict[str, Any]
    counts: dict[str, Any]
    conversations: "duckdb.DuckDBPyRelation | None" = None
    quarantine: "duckdb.DuckDBPyRelation | None" = None
    coverage: "duckdb.DuckDBPyRelation | None" = None
    near_removals: "duckdb.DuckDBPyRelation | None" = None
    registry: "duckdb.DuckDBPyRelation | None" = None
    tokenizer: str | None = None
    gates: list[str] = field(default_factory=list)
    max_examples: int = 10
    bias: dict[str, Any] | None = None          # reports/bias.json (lakehouse.review.bias.bias_report)


class TokenizerError(ValueError):
    pass


# --- tokens ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def load_tokenizer(path: str) -> Callable[[list[str]], list[int]]:
    """A batch token counter from a local tokenizer folder (``tokenizer.json``, the tokenizers library), or
    failing that any folder transformers' AutoTokenizer reads offline. Nothing is downloaded."""
    folder = os.path.expanduser(path)
    if not os.path.isdir(folder):
        raise TokenizerError(f"tokenizer {path!r} is not a local folder (give a folder holding tokenizer.json)")
    tj = os.path.join(folder, "tokenizer.json")
    if os.path.isfile(tj):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(tj)

        def count(texts: list[str]) -> list[int]:
            return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
        return count
    try:
        from transformers import AutoTokenizer
    except ImportError as e:  # pragma: no cover - transformers comes with sentence-transformers
        raise TokenizerError(f"{path}: no tokenizer.json, and transformers is not installed") from e
    try:
        htok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any loader failure is a user error here
        raise TokenizerError(f"{path}: not a tokenizer folder ({type(e).__name__}: {e})") from e

    def count_hf(texts: list[str]) -> list[int]:
        return [len(ids) for ids in htok(texts, add_special_tokens=False)["input_ids"]]
    return count_hf


def tokenizer_name(path: str) -> str:
    """A stable label for the tokenizer (its folder name), without the local path."""
    return os.path.basename(os.path.normpath(os.path.expanduser(path)))


def _record_text(row: dict[str, Any]) -> str:
    parts: list[str] = []
    for col in ("messages", "prompt", "chosen", "rejected"):
        for m in row.get(col) or []:
            parts.append(m.get("content") or "")
    if row.get("text"):
        parts.append(row["text"])
    return "\n".join(parts)


# --- data -----------------------------------------------------------------------------------------------

def _rows(rel: "duckdb.DuckDBPyRelation", sql: str) -> list[dict[str, Any]]:
    res = rel.query("r", sql)
    return [dict(zip(res.columns, row)) for row in res.fetchall()]


def _columns(rel: "duckdb.DuckDBPyRelation") -> set[str]:
    return set(rel.columns)


def release_frame(inp: ReportInputs) -> "pl.DataFrame":
    """One row per released record: family, split, stage label, config, turns, chars, tokens, quality."""
    import polars as pl

    cols = _columns(inp.release)
    quality = ("json_extract(json_line, '$.metadata.quality')::varchar" if "json_line" in cols else "null")
    sql = ("select record_id, family, split, phase || coalesce(stage::varchar, '') as stage, "
           "case when kind = 'sft' and label is not null then 'kto' else kind end as config, "
           f"n_turns, n_chars, {quality} as quality")
    count = load_tokenizer(inp.tokenizer) if inp.tokenizer else None
    if count:
        sql += ", messages, prompt, chosen, rejected, text"
    reader = inp.release.query("r", sql + " from r order by record_id").to_arrow_reader(5_000)
    frames = []
    for batch in reader:
        df = pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        if count:
            tokens = count([_record_text(r) for r in batch.select(["messages", "prompt", "chosen", "rejected",
                                                                   "text"]).to_pylist()])
            df = df.drop(["messages", "prompt", "chosen", "rejected", "text"]).with_columns(
                pl.Series("tokens", tokens, dtype=pl.Int64))
        else:
            df = df.with_columns(((pl.col("n_chars") + 3) // 4).cast(pl.Int64).alias("tokens"))
        frames.append(df)
    if not frames:
        return pl.DataFrame(schema={"record_id": pl.String, "family": pl.String, "split": pl.String,
                                    "stage": pl.String, "config": pl.String, "n_turns": pl.Int64,
                                    "n_chars": pl.Int64, "quality": pl.String, "tokens": pl.Int64})
    return pl.concat(frames).with_columns(pl.col("n_turns").cast(pl.Int64), pl.col("n_chars").cast(pl.Int64))


def quality_scores(df: "pl.DataFrame") -> dict[str, list[float]]:
    """metadata.quality as distributions: a number is ``score``; an object's numeric members are one
    distribution each (nested objects flattened with dots)."""
    out: dict[str, list[float]] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            out.setdefault(prefix or "score", []).append(float(v))
        elif isinstance(v, dict):
            for k in sorted(v):
                walk(f"{prefix}.{k}" if prefix else str(k), v[k])

    for raw in df.get_column("quality").drop_nulls().to_list():
        try:
            walk("", json.loads(raw))
        except (TypeError, ValueError):
            continue
    return out


def percentile_table(df: "pl.DataFrame", by: str, metric: str) -> list[dict[str, Any]]:
    import polars as pl

    aggs = [pl.len().alias("records")] + [pl.col(metric).quantile(q, "nearest").alias(f"p{int(q * 100)}")
                                          for q in PERCENTILES] + [pl.col(metric).max().alias("max"),
                                                                   pl.col(metric).mean().round(1).alias("mean")]
    return df.group_by(by).agg(aggs).sort(by).to_dicts()


def coverage_matrix(inp: ReportInputs, df: "pl.DataFrame") -> list[dict[str, Any]]:
    """Registry families -> present | partial | missing. Partial: released but below the family's
    ``min_records`` (when the registry has that column), or more than half its rows quarantined."""
    if inp.registry is None:
        return []
    reg = _rows(inp.registry, "select * from r order by family")
    released: dict[str, int] = {}
    by_split: dict[str, dict[str, int]] = {}
    for r in df.group_by(["family", "split"]).len().to_dicts():
        released[r["family"]] = released.get(r["family"], 0) + int(r["len"])
        by_split.setdefault(r["family"], {})[r["split"]] = int(r["len"])
    read: dict[str, tuple[int, int]] = {}
    if inp.coverage is not None:
        for r in _rows(inp.coverage, "select source_family, sum(rows_read) as rows_read, "
                                     "sum(rows_quarantined) as rows_quarantined from r group by 1"):
            read[r["source_family"]] = (int(r["rows_read"] or 0), int(r["rows_quarantined"] or 0))
    out = []
    for r in reg:
        fam = r["family"]
        n = released.get(fam, 0)
        rows_read, rows_q = read.get(fam, (0, 0))
        min_records = r.get("min_records")
        reasons = []
        if n == 0:
            status = "missing"
            if rows_read:
                reasons.append(f"{rows_q} of {rows_read} rows quarantined")
        else:
            status = "present"
            if min_records not in (None, "") and n < int(min_records):
                status = "partial"
                reasons.append(f"{n} < min_records {int(min_records)}")
            if rows_read and rows_q * 2 > rows_read:
                status = "partial"
                reasons.append(f"{rows_q} of {rows_read} rows quarantined")
        out.append({"family": fam, "required": bool(r.get("required")), "status": status, "records": n,
                    "by_split": by_split.get(fam, {}), "rows_read": rows_read, "rows_quarantined": rows_q,
                    "why": "; ".join(reasons)})
    return out


def duplicate_summary(inp: ReportInputs) -> dict[str, Any]:
    if inp.conversations is None:
        return {}
    fam_col = "source_family" if "source_family" in _columns(inp.conversations) else "family"
    rates = _rows(inp.conversations, f"""
        select {fam_col} as family, count(*) as curated,
               count(*) filter (where duplicate_kind = 'exact') as exact,
               count(*) filter (where duplicate_kind = 'near' and not is_released) as near,
               count(*) filter (where duplicate_kind = 'exact_after_redaction') as after_redaction
        from r group by 1 order by 1""")
    examples = _rows(inp.conversations, f"""
        select duplicate_kind as kind, record_id, duplicate_of, near_jaccard as jaccard
        from r where duplicate_kind is not null and not is_released
        order by duplicate_kind, record_id limit {int(inp.max_examples) * 3}""")
    per_kind: dict[str, list[dict[str, Any]]] = {}
    for e in examples:
        if len(per_kind.setdefault(e["kind"], [])) < inp.max_examples:
            per_kind[e["kind"]].append(e)
    return {"rates": rates, "examples": per_kind}


# --- plots ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "lakehouse-report", "svg.fonttype": "none", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 72})
    return plt


def _svg(fig: Any) -> str:
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})  # no bbox "tight": it renders twice
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF boilerplate


def histogram_svg(groups: dict[str, list[float]], title: str, xlabel: str, clip_tail: bool = False) -> str:
    """Overlaid step histograms, one per group, on shared bins."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 2.6))
    fig.subplots_adjust(left=0.13, right=0.98, top=0.9, bottom=0.18)
    values = [v for vs in groups.values() for v in vs]
    if values:
        lo, hi = min(values), max(values)
        if clip_tail:  # long tails: bins up to the 99th percentile, the rest counted in the last bin
            hi = max(float(np.percentile(values, 99)), lo + 1)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        for name, vs in groups.items():
            if vs:
                ax.hist(np.clip(vs, lo, bins[-1]), bins=bins, histtype="step", linewidth=1.4, label=f"{name} (n={len(vs)})")
        if len(groups) > 1:
            ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    return _svg(fig)


def bar_svg(items: list[tuple[str, float]], title: str, xlabel: str, color: str = "#2b6cb0") -> str:
    plt = _plt()
    h = 0.9 + 0.3 * max(len(items), 1)
    fig, ax = plt.subplots(figsize=(6.4, h))
    fig.subplots_adjust(left=0.32, right=0.92, top=1 - 0.3 / h, bottom=0.45 / h)
    if items:
        labels = [k for k, _ in items][::-1]
        vals = [v for _, v in items][::-1]
        ax.barh(labels, vals, color=color)
        for y, v in enumerate(vals):
            ax.text(v, y, f" {v:g}", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _svg(fig)


def grouped_rate_svg(rows: list[dict[str, Any]], title: str) -> str:
    import numpy as np

    plt = _plt()
    h = 1.0 + 0.45 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(6.4, h))
    fig.subplots_adjust(left=0.32, right=0.97, top=1 - 0.3 / h, bottom=0.45 / h)
    if rows:
        y = np.arange(len(rows))
        for i, (key, label, color) in enumerate((("exact", "exact", "#2b6cb0"), ("near", "near", "#dd6b20"),
                                                 ("after_redaction", "after redaction", "#718096"))):
            vals = [100.0 * r[key] / r["curated"] if r["curated"] else 0.0 for r in rows]
            ax.barh(y + (i - 1) * 0.27, vals, height=0.27, label=label, color=color)
        ax.set_yticks(y, [r["family"] for r in rows])
        ax.invert_yaxis()
        ax.legend(fontsize=7, frameon=False)
    ax.set_title(title)
    ax.set_xlabel("% of curated records removed")
    return _svg(fig)


# --- HTML -----------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #cbd5e0}
h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:12px} .muted{color:#4a5568} .note{background:#fffbea;border-left:3px solid #d69e2e;padding:6px 10px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff} th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#edf2f7}
figure.plot{background:#fff;border:1px solid #e2e8f0;margin:8px 0;padding:6px;display:inline-block;max-width:100%}
figure.plot svg{max-width:100%;height:auto} figcaption{font-size:12px;color:#4a5568}
td.status{color:#fff;font-weight:600;text-align:center} code{background:#edf2f7;padding:1px 4px;border-radius:3px}
td:has(code){text-align:left} code.trace{user-select:all;white-space:nowrap;cursor:copy}
.grid{display:flex;flex-wrap:wrap;gap:8px}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _table(header: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    def cell(c: Any) -> str:
        if raw and isinstance(c, str) and c.startswith("<td"):
            return c  # a cell with its own attributes
        return f"<td>{c if raw else _e(c)}</td>"
    body = "".join("<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(name: str, svg: str, caption: str) -> str:
    return f'<figure class="plot" data-plot="{_e(name)}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _group_values(df: "pl.DataFrame", by: str, metric: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key, vals in df.group_by(by).agg(df[metric].name).sort(by).iter_rows():
        out[str(key)] = [float(v) for v in vals]
    return out


def _pct(v: Any) -> str:
    return "" if v is None else f"{100.0 * float(v):.1f}"


def _signed_pct(v: Any) -> str:
    if v is None:
        return ""
    x = round(100.0 * float(v), 1)
    return "0.0" if x == 0 else f"{x:+.1f}"


def bias_section(bias: dict[str, Any] | None) -> list[str]:
    """The bias and cultural-competency part of the report, from reports/bias.json: mention rates by
    family (share of records mentioning a category), stereotyping rate per family, language shares
    and, with a baseline release, the change of each rate. Numbers only."""
    parts = ['<h2 id="bias">Bias and cultural competency</h2>']
    if not bias:
        parts.append('<p class="muted" id="bias-empty">This release has no bias report.</p>')
        return parts
    lex = bias.get("lexicon") or {}
    parts.append(f'<p class="muted">From <code>reports/bias.json</code> ({_e(bias.get("records"))} records; lexicon '
                 f'version {_e(lex.get("version"))}, sha256 <code>{_e(str(lex.get("sha256") or "")[:12])}</code>; '
                 f'{_e(bias.get("language_id"))}). Rates in %: the share of records mentioning a group of the '
                 "category, and of records with a stereotyping flag (a group term with a generalising negative "
                 "attribution). The stage-1 families' limit is on each record's <code>bias_score</code> "
                 "(registry <code>max_bias_score</code>).</p>")
    cats = list(bias.get("categories") or {})
    mr = bias.get("mention_rates") or {}
    st = bias.get("stereotyping") or {}
    fams = sorted((mr.get("by_family") or {}).items())
    rows, st_rows = [], []
    for fam, node in [("(all)", mr.get("overall") or {})] + fams:
        stn = (st.get("overall") if fam == "(all)" else (st.get("by_family") or {}).get(fam)) or {}
        rows.append([fam, node.get("records", 0)]
                    + [_pct(((node.get("categories") or {}).get(c) or {}).get("rate")) for c in cats])
        st_rows.append([fam, stn.get("records", 0), stn.get("records_flagged", 0), _pct(stn.get("rate")),
                        stn.get("mean_bias_score", 0.0)])
    parts.append("<h3>Mention rates by family (% of records)</h3>")
    parts.append('<div data-table="bias-by-family">' + _table(["family", "records"] + [c.replace("_", " ") for c in cats],
                                                              rows) + "</div>")
    parts.append("<h3>Stereotyping by family</h3>")
    parts.append('<div data-table="bias-stereotyping">' + _table(["family", "records", "flagged", "flagged %",
                                                                  "mean bias score"], st_rows) + "</div>")
    overall_cats = ((mr.get("overall") or {}).get("categories") or {})
    fam_rates = [(fam, 100.0 * float(((st.get("by_family") or {}).get(fam) or {}).get("rate") or 0.0)) for fam, _ in fams]
    parts.append('<div class="grid">')
    parts.append(_figure("bias-mentions", bar_svg([(c.replace("_", " "), round(100.0 * float((overall_cats.get(c) or {})
                                                                                              .get("rate") or 0.0), 1))
                                                   for c in cats], "records mentioning a group, by category",
                                                  "% of records", color="#2c7a7b"), "mention rate by category (all records)"))
    parts.append(_figure("bias-stereotyping", bar_svg([(f, round(v, 2)) for f, v in fam_rates],
                                                      "records with a stereotyping flag, by family", "% of records",
                                                      color="#c05621"), "stereotyping rate by family"))
    parts.append("</div>")
    by_group = (st.get("overall") or {}).get("by_group") or {}
    if by_group:
        parts.append("<details><summary>Stereotyping flags by group</summary>")
        parts.append(_table(["group", "records"], [[g, n] for g, n in sorted(by_group.items(), key=lambda kv: (-kv[1], kv[0]))]))
        parts.append("</details>")
    lang = (bias.get("language") or {}).get("overall") or {}
    counts = lang.get("counts") or {}
    parts.append("<h3>Languages</h3>")
    parts.append('<div data-table="bias-languages">' + _table(
        ["language", "records", "share %"],
        [[k, v, _pct((lang.get("shares") or {}).get(k))] for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))])
        + "</div>")
    base = bias.get("baseline")
    parts.append("<h3>Change against the baseline release</h3>")
    if not base:
        parts.append('<p class="muted" id="bias-no-baseline">No baseline: set the dbt var '
                     "<code>bias_baseline_release</code> to compare with an earlier release.</p>")
        return parts
    if base.get("lexicon_changed"):
        parts.append('<p class="note">The lexicon changed since the baseline: part of the change comes from the lists.</p>')
    recs = base.get("records") or {}
    parts.append(f'<p>Baseline <code>{_e(base.get("release"))}</code>: {_e(recs.get("baseline"))} records, now '
                 f'{_e(recs.get("current"))}. Changes in percentage points.</p>')
    mrc = base.get("mention_rate_change") or {}
    src = base.get("stereotype_rate_change") or {}
    bcats = sorted((mrc.get("overall") or {}))
    brows = [["(all)"] + [_signed_pct((mrc.get("overall") or {}).get(c)) for c in bcats] + [_signed_pct(src.get("overall"))]]
    for fam, d in sorted((mrc.get("by_family") or {}).items()):
        brows.append([fam] + [_signed_pct((d or {}).get(c)) for c in bcats]
                     + [_signed_pct((src.get("by_family") or {}).get(fam))])
    parts.append('<div data-table="bias-baseline">' + _table(["family"] + [c.replace("_", " ") for c in bcats]
                                                             + ["stereotyping"], brows) + "</div>")
    lsc = base.get("language_share_change") or {}
    if lsc:
        parts.append(_table(["language", "share change (pp)"], [[k, _signed_pct(v)] for k, v in sorted(lsc.items())]))
    return parts


def render_report(inp: ReportInputs) -> bytes:
    df = release_frame(inp)
    token_label = (f"tokens ({tokenizer_name(inp.tokenizer)} tokenizer)" if inp.tokenizer
                   else "tokens (estimate: characters / 4)")
    parts: list[str] = []
    nav = [("overview", "Overview"), ("lengths", "Lengths"), ("quarantine", "Quarantine"),
           ("redactions", "Redactions"), ("duplicates", "Duplicates"), ("coverage", "Coverage"),
           ("quality", "Quality"), ("bias", "Bias")]
    parts.append("<h1>Release report</h1>")
    parts.append(f'<p class="muted">{df.height} released records. Numbers and ids only: no message text. '
                 "Machine-readable numbers are in <code>reports/*.json</code>; files and hashes in "
                 "<code>manifest.json</code>.</p>")
    parts.append("<nav>" + "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav) + "</nav>")

    # overview
    by_config = inp.counts.get("by_config", {})
    parts.append('<h2 id="overview">Overview</h2>')
    parts.append(_table(["config", "train", "val", "test", "total"],
                        [[c] + [v.get(s, 0) for s in SPLITS] + [sum(v.values())] for c, v in sorted(by_config.items())]))
    if inp.gates:
        parts.append("<p>Gates passed: " + ", ".join(f"<code>{_e(g)}</code>" for g in inp.gates) + "</p>")

    # lengths
    parts.append('<h2 id="lengths">Turns, characters and tokens</h2>')
    if not inp.tokenizer:
        parts.append('<p class="note">Token counts are an <b>estimate</b> (characters / 4). Name a tokenizer '
                     "folder (<code>lakehouse build --tokenizer DIR</code> or the <code>tokenizer</code> dbt var) "
                     "for real counts.</p>")
    for metric, label, clip in (("n_turns", "turns", False), ("n_chars", "characters", True), ("tokens", token_label, True)):
        parts.append(f"<h3>{_e(label)}</h3><div class=\"grid\">")
        for by in ("family", "split", "stage"):
            parts.append(_figure(f"{metric}-by-{by}", histogram_svg(_group_values(df, by, metric),
                                                                     f"{label} per {by}", label, clip_tail=clip),
                                 f"{label}: histogram per {by}"))
        parts.append("</div>")
        for by in ("family", "split", "stage"):
            rows = percentile_table(df, by, metric)
            parts.append(f"<details><summary>{_e(label)} percentiles per {by}</summary>")
            parts.append(_table([by, "records"] + [f"p{int(q * 100)}" for q in PERCENTILES] + ["max", "mean"],
                                [[r[by], r["records"]] + [r[f"p{int(q * 100)}"] for q in PERCENTILES]
                                 + [r["max"], r["mean"]] for r in rows]))
            parts.append("</details>")

    # quarantine
    reasons = inp.audit.get("quarantine_by_reason") or {}
    parts.append('<h2 id="quarantine">Quarantine by reason</h2>')
    items = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append(_figure("quarantine", bar_svg([(k, float(v)) for k, v in items], "quarantined records by reason",
                                               "records", color="#c53030"), "quarantine by reason"))
    parts.append(_table(["reason", "records"], [[k, v] for k, v in items]))
    parts.append("<p class=\"muted\">Rows: <code>lakehouse sql \"select reason_code, count(*) from quarantine "
                 "group by 1\"</code></p>")

    # redactions
    red = inp.audit.get("redactions_by_entity_type") or {}
    parts.append('<h2 id="redactions">Redactions by type</h2>')
    items = sorted(red.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append(_figure("redactions", bar_svg([(k, float(v)) for k, v in items], "redactions by entity type",
                                               "redactions", color="#6b46c1"), "redactions by type"))
    parts.append(_table(["entity type", "redactions"], [[k, v] for k, v in items]))
    status = inp.audit.get("pii_status") or {}
    if status:
        parts.append("<p>Records by PII status: " + ", ".join(f"{_e(k)}={v}" for k, v in sorted(status.items())) + "</p>")

    # duplicates
    dup = duplicate_summary(inp)
    parts.append('<h2 id="duplicates">Exact and near duplicates</h2>')
    rates = dup.get("rates") or []
    parts.append(_figure("duplicates", grouped_rate_svg(rates, "duplicate rate per source family"),
                         "exact / near / post-redaction duplicate rates"))
    parts.append(_table(["family", "curated", "exact", "near", "after redaction", "exact %", "near %"],
                        [[r["family"], r["curated"], r["exact"], r["near"], r["after_redaction"],
                          f"{100.0 * r['exact'] / r['curated']:.1f}" if r["curated"] else "0.0",
                          f"{100.0 * r['near'] / r['curated']:.1f}" if r["curated"] else "0.0"] for r in rates]))
    for kind, exs in sorted((dup.get("examples") or {}).items()):
        parts.append(f"<h3>{_e(kind)} duplicates: examples</h3>")
        parts.append(_table(["removed", "kept", "jaccard", "its story"],
                            [[f"<code>{_e(e['record_id'])}</code>", f"<code>{_e(e['duplicate_of'])}</code>",
                              _e("" if e.get("jaccard") is None else f"{float(e['jaccard']):.3f}"),
                              f"<code class=\"trace\">lakehouse trace {_e(e['record_id'])}</code>"] for e in exs],
                            raw=True))

    # coverage
    cov = coverage_matrix(inp, df)
    parts.append('<h2 id="coverage">Coverage matrix</h2>')
    parts.append('<p class="muted">Registry families: <b>present</b>, <b>partial</b> (released but below the '
                 "family's <code>min_records</code>, or more than half its rows quarantined) or <b>missing</b>.</p>")
    parts.append(_table(["family", "required", "status", "train", "val", "test", "rows read", "rows quarantined", "why"],
                        [[_e(r["family"]), "yes" if r["required"] else "",
                          f'<td class="status" style="background:{STATUS_COLORS[r["status"]]}" '
                          f'data-status="{r["status"]}">{r["status"]}</td>']
                         + [r["by_split"].get(s, 0) for s in SPLITS] + [r["rows_read"], r["rows_quarantined"], _e(r["why"])]
                         for r in cov], raw=True))
    counts = {s: sum(1 for r in cov if r["status"] == s) for s in STATUS_COLORS}
    parts.append(_figure("coverage", bar_svg([(k, float(v)) for k, v in counts.items()], "registry families by status",
                                             "families", color="#2f855a"), "coverage status"))

    # quality
    parts.append('<h2 id="quality">Quality scores</h2>')
    scores = quality_scores(df)
    if scores:
        parts.append('<div class="grid">')
        for name, vals in sorted(scores.items()):
            parts.append(_figure(f"quality-{name}", histogram_svg({name: vals}, f"quality: {name}", name),
                                 f"quality score {name}: {len(vals)} records"))
        parts.append("</div>")
    else:
        parts.append('<p class="muted" id="quality-empty">No record of this release carries '
                     "<code>metadata.quality</code> yet: the distributions appear here once the quality scorers run.</p>")

    parts.extend(bias_section(inp.bias))

    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<title>Release report</title>"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
           f"<style>{CSS}</style></head><body><main>" + "\n".join(parts) + "</main></body></html>\n")
    return doc.encode("utf-8")
