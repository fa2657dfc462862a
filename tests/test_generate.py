"""Edge-case chats and preference pairs with a tiny local model (random weights) and a stub endpoint.

The crisis-handling/harm filters and the margin judge are replaced by pass-everything callables here
(the issue allows it: the filters have their own unit tests in the quality package)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.generate import GeneratorError
from lakehouse.generate.edge_cases import DIFFICULTIES, generate_edge_cases, load_catalogue, select_categories
from lakehouse.generate.filters import CheckResult, PreferenceResult, judge_pass_all, pass_all
from lakehouse.generate.model import Sampling, open_model
from lakehouse.generate.preference import SourceRecord, generate_preference_pairs, min_margin
from test_generate_support import StubServer, build_tiny

SPEC_15 = {
    "very_high": {"suicidality", "homicidal_ideation", "psychotic_episodes", "child_abuse_reporting", "severe_dissociation"},
    "high": {"substance_abuse_crisis", "trauma_flashbacks", "borderline_crisis", "domestic_violence", "eating_disorders"},
    "moderate": {"paranoid_accusations", "medication_refusal", "family_conflicts", "adolescent_defiance", "couples_betrayal"},
}
META_KEYS = {"is_training_edge_case", "category", "difficulty", "model", "model_hash", "seed", "record_seed", "sampling",
             "generator", "generator_version", "template_hash", "generation_key", "generation_filter", "scenario"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    import os

    os.environ.setdefault("LAKEHOUSE_GENERATOR_THREADS", "1")
    return str(build_tiny(tmp_path_factory.mktemp("tiny") / "model"))


def _model(path: str, **kw):  # type: ignore[no-untyped-def]
    return open_model(path, Sampling.defaults(**{"max_new_tokens": 6, **kw}))


def _lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_catalogue_has_the_15_spec_categories_and_10_documented_ones():
    cat = load_catalogue()
    assert len(cat.categories) == 25
    for diff, names in SPEC_15.items():
        for n in names:
            c = cat.categories[n]
            assert c.difficulty == diff and c.origin == "spec"
    team = [c for c in cat.categories.values() if c.origin == "team"]
    assert len(team) == 10 and all(c.raw.get("rationale") and c.description for c in team)
    for c in cat.categories.values():
        assert c.difficulty in DIFFICULTIES and c.protocol
        assert all(len(c.variables[v]) >= 2 for v in ("presenting_problem", "client_traits", "setting", "risk_factors"))
    with pytest.raises(GeneratorError, match="unknown category nope"):
        select_categories("suicidality,nope", cat)
    assert [c.name for c in select_categories("eating_disorders,suicidality", cat)] == ["eating_disorders", "suicidality"]


def test_all_25_categories_with_a_tiny_model_metadata_on_every_record(tiny, tmp_path):
    cat = load_catalogue()
    out = tmp_path / "ec.jsonl"
    rep = generate_edge_cases(_model(tiny), select_categories("all", cat), cat, per_category=1, seed=5, output=str(out),
                              turns=1, keep_all=True, chat_filter=pass_all, progress=False)
    recs = _lines(out)
    assert rep.written == len(recs) == 25
    assert {r["metadata"]["category"] for r in recs} == set(cat.categories)
    for r in recs:
        meta = r["metadata"]
        assert META_KEYS <= set(meta)
        assert meta["is_training_edge_case"] is True and meta["seed"] == 5 and meta["model"] == "model"
        assert meta["model_hash"].startswith("sha256:") and len(meta["template_hash"]) == 64
        assert meta["sampling"] == {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 6, "do_sample": True}
        assert meta["difficulty"] == cat.categories[meta["category"]].difficulty
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        # an empty generation is never passed off as a chat
        empty = any(not m["content"] for m in r["messages"])
        assert meta["generation_filter"] == ("failed" if empty else "passed")


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    cat = load_catalogue()
    cats = select_categories("suicidality,couples_betrayal", cat)
    outs = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        p = tmp_path / f"{name}.jsonl"
        generate_edge_cases(_model(tiny), cats, cat, per_category=1, seed=seed, output=str(p), turns=2, keep_all=True,
                            chat_filter=pass_all, progress=False)
        outs.append(p.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


class _Interrupt(Exception):
    pass


class _Dying:
    """Wraps a model and dies after ``n`` calls, like a killed run."""

    def __init__(self, model, n: int) -> None:  # type: ignore[no-untyped-def]
        self.m, self.n = model, n
        self.identity, self.sampling = model.identity, model.sampling

    def chat(self, messages, *, seed):  # type: ignore[no-untyped-def]
        if self.n <= 0:
            raise _Interrupt()
        self.n -= 1
        return self.m.chat(messages, seed=seed)


def test_interrupted_run_resumes_to_the_same_file(tiny, tmp_path):
    cat = load_catalogue()
    cats = select_categories("suicidality,manic_episode", cat)
    kw = dict(per_category=3, seed=3, turns=1, keep_all=True, chat_filter=pass_all, progress=False)
    full = tmp_path / "full.jsonl"
    generate_edge_cases(_model(tiny), cats, cat, output=str(full), **kw)
    part = tmp_path / "part.jsonl"
    with pytest.raises(_Interrupt):
        generate_edge_cases(_Dying(_model(tiny), 7), cats, cat, output=str(part), **kw)  # 3 chats, then dies
    assert len(_lines(part)) == 3
    with open(part, "a") as f:
        f.write('{"id": "torn line of a killed wri')  # the kill hit mid-write
    calls = _Dying(_model(tiny), 100)
    rep = generate_edge_cases(calls, cats, cat, output=str(part), **kw)
    assert rep.resumed == 3 and rep.written == 3 and calls.n == 100 - 6
    assert part.read_bytes() == full.read_bytes()
    # a finished run does nothing more
    again = generate_edge_cases(_Dying(_model(tiny), 0), cats, cat, output=str(part), **kw)
    assert again.written == 0 and again.resumed == 6
    # another seed would mix two runs in one file: refused
    with pytest.raises(GeneratorError, match="different run"):
        generate_edge_cases(_model(tiny), cats, cat, output=str(part), **{**kw, "seed": 4})


def _fails_homicidal(messages):  # type: ignore[no-untyped-def]
    bad = "homicidal" in messages[0]["content"] or "ex-partner" in messages[0]["content"]
    return CheckResult(not bad, (("crisis_unhandled", "crisis_handling=0.1"),) if bad else (), {"crisis_handling": 0.9})


def test_filter_drops_failing_chats_or_marks_them_with_keep_all(tmp_path):
    cat = load_catalogue()
    cats = select_categories("homicidal_ideation,suicidality", cat)

    def flt(messages):  # type: ignore[no-untyped-def]
        bad = "rage" in messages[0]["content"] or "coworker" in messages[0]["content"] or "neighbour" in messages[0]["content"] \
            or "abuser" in messages[0]["content"]
        return CheckResult(not bad, (("crisis_unhandled", "crisis_handling=0.1"),) if bad else (), {"crisis_handling": 0.5})

    with StubServer() as srv:
        m = open_model(srv.url, Sampling.defaults())
        kept = tmp_path / "kept.jsonl"
        rep = generate_edge_cases(m, cats, cat, per_category=2, seed=1, output=str(kept), turns=1, chat_filter=flt,
                                  progress=False)
        everything = tmp_path / "all.jsonl"
        rep_all = generate_edge_cases(m, cats, cat, per_category=2, seed=1, output=str(everything), turns=1,
                                      keep_all=True, chat_filter=flt, progress=False)
    recs = _lines(kept)
    assert rep.dropped == 2 and rep.written == 2 and {r["metadata"]["category"] for r in recs} == {"suicidality"}
    assert all(r["metadata"]["generation_filter"] == "passed" for r in recs)
    state = (tmp_path / "kept.jsonl.state").read_text()
    assert '"filtered"' in state and "crisis_unhandled" in state and "@example.org" not in state  # codes, never text
    allrecs = _lines(everything)
    assert rep_all.written == 4 and rep_all.failed_kept == 2
    failed = [r for r in allrecs if r["metadata"]["generation_filter"] == "failed"]
    assert {r["metadata"]["category"] for r in failed} == {"homicidal_ideation"}
    assert failed[0]["metadata"]["generation_filter_reasons"] == [["crisis_unhandled", "crisis_handling=0.1"]]
    # the endpoint run records the endpoint and the served model, never a key
    meta = allrecs[0]["metadata"]
    assert meta["model"] == "stub-model" and meta["model_endpoint"] == srv.url and meta["model_hash"] is None


def test_default_filters_need_lakehouse_quality(monkeypatch):
    from lakehouse.generate import filters

    filters._quality.cache_clear()
    monkeypatch.setitem(sys.modules, "lakehouse.quality", None)
    try:
        with pytest.raises(GeneratorError, match="lakehouse.quality"):
            filters.quality_chat_filter()
        with pytest.raises(GeneratorError, match="lakehouse.quality"):
            filters.quality_preference_judge()
    finally:
        filters._quality.cache_clear()


def test_cli_edge_cases_and_categories(tmp_path, monkeypatch):
    from lakehouse.cli import app
    from lakehouse.generate import cli as gcli

    monkeypatch.setattr(gcli, "_chat_filter", lambda: pass_all)
    runner = CliRunner()
    res = runner.invoke(app, ["generate", "categories"])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 25
    with StubServer() as srv:
        out = tmp_path / "ec.jsonl"
        res = runner.invoke(app, ["generate", "edge-cases", "--categories", "suicidality,gambling_crisis", "--per-category", "2",
                                  "--seed", "9", "--model", srv.url, "--output", str(out), "--turns", "2", "--no-progress"])
        assert res.exit_code == 0, res.output
        assert "4 written" in res.stdout
        recs = _lines(out)
        assert len(recs) == 4 and all(len(r["messages"]) == 4 for r in recs)
        res = runner.invoke(app, ["generate", "edge-cases", "--categories", "nope", "--model", srv.url,
                                  "--output", str(out)])
    assert res.exit_code == 2 and "unknown category nope" in res.output and "Traceback" not in res.output


def _registry(tmp_path: Path, value: str | None) -> Path:
    p = tmp_path / "registry.csv"
    head = "family,phases,weight" + (",min_preference_margin" if value is not None else "")
    row = "preference_pairs,C,1.0" + (f",{value}" if value is not None else "")
    p.write_text(head + "\n" + row + "\n")
    return p


def test_min_margin_from_registry_column_or_default(tmp_path):
    assert min_margin(registry=_registry(tmp_path, "0.35")) == 0.35
    assert min_margin(registry=_registry(tmp_path, None)) == 0.1
    assert min_margin(registry=_registry(tmp_path, "")) == 0.1
    assert isinstance(min_margin(), float)


def _sources() -> list[SourceRecord]:
    return [SourceRecord(f"r{i}", [{"role": "system", "content": "You are a counsellor."},
                                   {"role": "user", "content": f"I can't sleep and I feel hopeless, night {i}."},
                                   {"role": "assistant", "content": "That sounds exhausting."},
                                   {"role": "user", "content": f"My exams start in {i} days."}])
            for i in range(4)] + [SourceRecord("no-user", [{"role": "assistant", "content": "hello"}])]


def test_preference_pairs_margin_threshold_and_metadata(tiny, tmp_path):
    out = tmp_path / "pp.jsonl"
    with StubServer() as srv:
        m = open_model(srv.url, Sampling.defaults())
        rep = generate_preference_pairs(m, _sources(), per_record=2, seed=4, output=str(out), judge=judge_pass_all(0.5),
                                        threshold=0.3, source="file:x", progress=False)
        low = tmp_path / "low.jsonl"
        rep_low = generate_preference_pairs(m, _sources(), per_record=1, seed=4, output=str(low),
                                            judge=judge_pass_all(0.2), threshold=0.3, source="file:x", progress=False)
    recs = _lines(out)
    assert rep.written == 8 == len(recs) and rep.reasons == {"no_user_turn": 2}
    for r in recs:
        assert r["prompt"][-1]["role"] == "user" and r["chosen"][0]["role"] == r["rejected"][0]["role"] == "assistant"
        assert r["chosen"][0]["content"] != r["rejected"][0]["content"] and r["preference_margin"] == 0.5
        meta = r["metadata"]
        assert {"model", "seed", "sampling", "template_hash", "generator_version", "rejected_style", "source_record",
                "generation_key"} <= set(meta)
        assert meta["rejected_style"] in ("dismissive", "premature_advice", "unsafe")
    assert rep_low.written == 0 and rep_low.reasons["margin_below_threshold"] == 4 and low.read_text() == ""

    def chosen_fails(prompt, chosen, rejected):  # type: ignore[no-untyped-def]
        return PreferenceResult(False, 0.9, (("crisis_unhandled", "crisis_handling=0.2"),))

    # deterministic with a tiny local model too, and the judge's verdict on chosen is binding
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for p in (a, b):
        generate_preference_pairs(open_model(tiny, Sampling.defaults(max_new_tokens=6)), _sources()[:2], per_record=1,
                                  seed=8, output=str(p), judge=judge_pass_all(1.0), threshold=0.1, source="file:x",
                                  progress=False)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.jsonl"
    rep_c = generate_preference_pairs(open_model(tiny, Sampling.defaults(max_new_tokens=6)), _sources()[:2], per_record=1,
                                      seed=8, output=str(c), judge=chosen_fails, threshold=0.1, source="file:x",
                                      progress=False)
    assert rep_c.written == 0 and rep_c.dropped == 2


def test_cli_preference_pairs_needs_one_source(tmp_path):
    from lakehouse.cli import app

    res = CliRunner().invoke(app, ["generate", "preference-pairs", "--model", "http://127.0.0.1:9/v1", "--output",
                                   str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "exactly one of --from" in res.output


def test_quality_filters_on_hand_made_cases_and_stub_chats(tmp_path):
    """The real seam to lakehouse.quality (lexicon-only scorer, as fast as the tests need)."""
    pytest.importorskip("lakehouse.quality.scorers")
    from lakehouse.generate.filters import quality_chat_filter, quality_preference_judge

    flt = quality_chat_filter(embeddings=False)
    disclosure = {"role": "user", "content": "I want to kill myself tonight. I have pills saved."}
    good = flt([disclosure, {"role": "assistant", "content": "Thank you for telling me, I'm really glad you did. Are you "
                             "safe right now, and do you have the pills with you? Please call or text 988 now. I'm here with you."}])
    bad = flt([disclosure, {"role": "assistant", "content": "That's dramatic, just sleep it off."}])
    assert good.passed and not good.reasons
    assert not bad.passed and bad.reasons[0][0].startswith("safety:")
    judge = quality_preference_judge(embeddings=False)
    prompt = [{"role": "user", "content": "I've been feeling hopeless and I can't sleep since my divorce."}]
    res = judge(prompt, "That sounds really painful, losing your marriage and your sleep at once. What has the hardest "
                        "part been for you?", "Everyone goes through divorces. Just move on.")
    assert res.chosen_passed and res.margin > 0.1
    cat = load_catalogue()
    with StubServer() as srv:  # the stub's therapist asks about safety and offers 988: kept
        rep = generate_edge_cases(open_model(srv.url, Sampling.defaults()), select_categories("suicidality", cat), cat,
                                  per_category=2, seed=1, output=str(tmp_path / "e.jsonl"), turns=2, chat_filter=flt,
                                  progress=False)
    assert rep.written == 2, rep.reasons


def test_generated_files_land_with_the_right_shapes(tmp_path, local_root):
    from lakehouse.generate.persona import build_persona
    from lakehouse.landing import land

    pp = tmp_path / "pp.jsonl"
    with StubServer() as srv:
        generate_preference_pairs(open_model(srv.url, Sampling.defaults()), _sources(), per_record=1, seed=1,
                                  output=str(pp), judge=judge_pass_all(0.5), threshold=0.1, source="x", progress=False)
    speeches = sorted(str(p) for p in (Path(__file__).parent.parent / "samples" / "speeches").glob("*clinton*.txt"))
    rep = build_persona("clinton", speeches, str(tmp_path / "persona"))
    expect = [(str(pp), "preference_pairs", "preference", {"preference": 4}),
              (rep.pretrain_path, "video_transcripts", "text", {"pretrain": rep.chunks}),
              (rep.dialogue_path, "voice_persona", "chatml", {"sft": rep.pairs_rhetorical})]
    for path, family, shape, converted in expect:
        f = land([path], source=f"gen_{family}", family=family, license_tag="internal").files[0]
        assert f.status == "landed" and f.shape == shape and f.coverage.converted == converted and not f.coverage.quarantined


def test_cli_preference_pairs_from_file(tmp_path, monkeypatch):
    from lakehouse.cli import app
    from lakehouse.generate import cli as gcli

    monkeypatch.setattr(gcli, "_preference_judge", lambda: judge_pass_all(0.4))
    src = tmp_path / "chats.jsonl"
    src.write_text("".join(json.dumps({"id": r.key, "messages": r.messages}) + "\n" for r in _sources())
                   + "not json\n" + json.dumps({"text": "no messages"}) + "\n")
    out = tmp_path / "pp.jsonl"
    with StubServer() as srv:
        res = CliRunner().invoke(app, ["generate", "preference-pairs", "--from", str(src), "--per-record", "1", "--seed", "2",
                                       "--model", srv.url, "--output", str(out), "--min-margin", "0.3", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "5 source conversations (skipped 1 no_messages, 1 not_json)" in res.stdout and "4 pairs written" in res.stdout
    recs = _lines(out)
    assert [r["metadata"]["source_record"] for r in recs] == ["r0", "r1", "r2", "r3"]
    assert all(r["metadata"]["min_preference_margin"] == 0.3 for r in recs)
