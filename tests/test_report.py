"""reports/index.html: plots rendered from release marts (unit, on an in-memory DuckDB), real-tokenizer
token counts, byte-identical output, and the report of a built release loaded in headless Chromium."""

from __future__ import annotations

import json
import os
import re

import duckdb
import pytest

from lakehouse.export.report import ReportInputs, render_report

SECRET = "my phone is 555-0100 and I feel hopeless"


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"""
        create table release as
        select 'r' || i as record_id, case when i % 3 = 0 then 'fam_b' else 'fam_a' end as family,
               case when i % 10 = 0 then 'test' when i % 10 = 1 then 'val' else 'train' end as split,
               'B' as phase, 1 as stage, 'sft' as kind, null::boolean as label,
               2 + i % 5 as n_turns, 40 + i * 7 as n_chars,
               [{{'role': 'user', 'content': '{SECRET} ' || repeat('word ', i % 9)}},
                {{'role': 'assistant', 'content': 'that sounds hard'}}] as messages,
               null::struct(role varchar, content varchar)[] as prompt,
               null::struct(role varchar, content varchar)[] as chosen,
               null::struct(role varchar, content varchar)[] as rejected, null::varchar as text,
               to_json({{'messages': [], 'metadata': {{'quality': {{'empathy': (i % 7) / 7.0, 'safety': 1 - (i % 3) / 3.0}}}}}})::varchar
                   as json_line
        from range(60) t(i)""")
    con.execute("""
        create table conversations as
        select record_id, family as source_family, true as is_released, null::varchar as duplicate_kind,
               null::varchar as duplicate_of, null::double as near_jaccard from release
        union all select 'd1', 'fam_a', false, 'exact', 'r1', null
        union all select 'd2', 'fam_b', false, 'near', 'r3', 0.91""")
    con.execute("""create table registry as select * from (values ('fam_a', true, 10), ('fam_b', false, 100),
                   ('fam_c', true, 1)) t(family, required, min_records)""")
    con.execute("""create table coverage as select * from (values ('src_a', 'fam_a', 50, 2), ('src_b', 'fam_b', 30, 5),
                   ('src_c', 'fam_c', 10, 10)) t(source_name, source_family, rows_read, rows_quarantined)""")
    return con


def _inputs(con: duckdb.DuckDBPyConnection, tokenizer: str | None = None) -> ReportInputs:
    audit = {"quarantine_by_reason": {"empty_turn": 3, "license_not_allowed": 10},
             "redactions_by_entity_type": {"PERSON": 4, "PHONE_NUMBER": 2}, "pii_status": {"clean": 50, "redacted": 10}}
    counts = {"by_config": {"sft": {"train": 48, "val": 6, "test": 6}}}
    return ReportInputs(release=con.table("release"), audit=audit, counts=counts, conversations=con.table("conversations"),
                        coverage=con.table("coverage"), registry=con.table("registry"), tokenizer=tokenizer,
                        gates=["coverage", "pii"])


def _plots(html: str) -> list[str]:
    return re.findall(r'<figure class="plot" data-plot="([^"]+)"><svg', html)


def test_report_plots_and_sections():
    html = render_report(_inputs(_con())).decode()
    plots = _plots(html)
    for metric in ("n_turns", "n_chars", "tokens"):
        for by in ("family", "split", "stage"):
            assert f"{metric}-by-{by}" in plots
    assert {"quarantine", "redactions", "duplicates", "coverage", "quality-empathy", "quality-safety"} <= set(plots)
    assert "estimate" in html and "characters / 4" in html
    assert "lakehouse trace d1" in html and "lakehouse trace d2" in html
    # coverage: fam_a present, fam_b below min_records (partial), fam_c missing (every row quarantined)
    status = dict(re.findall(r'<tr><td>(fam_\w)</td>.*?data-status="(\w+)"', html))
    assert status == {"fam_a": "present", "fam_b": "partial", "fam_c": "missing"}
    assert "555-0100" not in html and "hopeless" not in html   # no message text, ever
    assert "<script" not in html and not re.search(r'(src|href)="(https?:|//)', html)   # nothing to fetch
    assert render_report(_inputs(_con())).decode() == html      # byte-identical on rebuild


def test_report_without_quality_says_so():
    con = _con()
    con.execute("update release set json_line = '{}'")
    html = render_report(_inputs(con)).decode()
    assert 'id="quality-empty"' in html and not [p for p in _plots(html) if p.startswith("quality-")]


def test_report_tokens_from_a_real_tokenizer(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({"[UNK]": 0, "word": 1, "that": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    folder = tmp_path / "my-tok"
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    from lakehouse.export.report import release_frame

    inp = _inputs(_con(), tokenizer=str(folder))
    df = release_frame(inp)
    row = df.filter(df["record_id"] == "r4").to_dicts()[0]
    words = len((SECRET + " " + "word " * 4).split()) + len("that sounds hard".split())
    assert row["tokens"] == words + 2   # "555-0100" is three tokens for Whitespace (555, -, 0100)
    html = render_report(inp).decode()
    assert "tokens (my-tok tokenizer)" in html and "estimate" not in html.split('id="lengths"')[1].split("</h3>")[0]
    from lakehouse.export.report import TokenizerError

    with pytest.raises(TokenizerError, match="not a local folder"):
        render_report(_inputs(_con(), tokenizer=str(tmp_path / "nope")))


# --- the report of a built release, in a browser --------------------------------------------------------

REPORT_JS = r"""
(() => {
  const figs = [...document.querySelectorAll('figure.plot')];
  return {
    title: document.title,
    plots: figs.map(f => f.dataset.plot),
    drawn: figs.filter(f => {
      const svg = f.querySelector('svg'); if (!svg) return false;
      const r = svg.getBoundingClientRect();
      return r.width > 100 && r.height > 50 && svg.querySelectorAll('path').length > 0;
    }).map(f => f.dataset.plot),
    sections: [...document.querySelectorAll('h2')].map(h => h.id),
    coverage: Object.fromEntries([...document.querySelectorAll('td[data-status]')]
                 .map(td => [td.parentElement.firstElementChild.textContent, td.dataset.status])),
    traces: [...document.querySelectorAll('code.trace')].map(c => c.textContent),
    fetched: performance.getEntriesByType('resource').length,
  };
})()
"""


@pytest.mark.dbt
def test_report_in_chromium(tmp_path_factory):
    from test_docs_browser_support import CHROMIUM, Chromium

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from export_support import shared_release

    rel = shared_release(tmp_path_factory)
    report = rel.path / "reports" / "index.html"
    manifest = json.loads((rel.path / "manifest.json").read_text())
    assert "reports/index.html" in {f["key"] for f in manifest["files"]}
    with Chromium() as browser:
        session = browser.open(report.as_uri())   # file://, offline
        got = browser.evaluate(session, REPORT_JS)
    assert got["title"] == "Release report"
    assert got["sections"] == ["overview", "lengths", "quarantine", "redactions", "duplicates", "coverage", "quality",
                               "bias"]
    assert len(got["plots"]) >= 13 and sorted(got["drawn"]) == sorted(got["plots"]), got
    assert got["fetched"] == 0                      # self-contained: nothing loaded besides the page
    assert got["coverage"]["mental_health_datasets"] == "present"
    assert got["coverage"]["cot_reasoning"] == "missing"
    assert got["traces"] and all(t.startswith("lakehouse trace ") for t in got["traces"])
