"""Voice persona from the bundled speeches and subtitle fixtures: profile fields with counts, pretraining
chunks without boilerplate, dialogue pairs whose answers are the transcripts' own words, dual persona,
voice consistency, and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.generate import GeneratorError
from lakehouse.generate.model import Sampling, open_model
from lakehouse.generate.persona import (build_dual, build_persona, persona_config, read_transcript, registered_profiles,
                                        register_profile, voice_components, voice_consistency)
from test_generate_support import StubServer

REPO = Path(__file__).resolve().parents[1]
SPEECHES = sorted(str(p) for p in (REPO / "samples" / "speeches").glob("*.txt"))
FIX = REPO / "tests" / "fixtures" / "persona"
BUSH = str(FIX / "2002_george_w_bush_r_excerpt.txt")
VTT = str(FIX / "lecture_host_and_speaker.vtt")
SRT = str(FIX / "lecture_rolling_captions.srt")
THERAPY = ("I hear how painful this has been for you. It sounds like you have been carrying a lot on your own. "
           "Can you tell me more about what happens when the anxiety starts? Have you had any thoughts of hurting "
           "yourself? If so, you can call or text 988 any time.")


def _norm(s: str) -> str:
    return " ".join(s.replace("\u2019", "'").split())


def _lines(p: str | Path) -> list[dict]:
    return [json.loads(x) for x in Path(p).read_text().splitlines() if x.strip()]


CLINTON = [s for s in SPEECHES if "clinton" in s]
OBAMA = [s for s in SPEECHES if "obama" in s]


@pytest.fixture(scope="module")
def clinton(tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("persona")
    return build_persona("clinton", CLINTON, str(out), display_name="Bill Clinton")


def test_profile_fields_with_counts(clinton):
    prof = json.loads(Path(clinton.profile_path).read_text())
    assert prof["format"] == "lakehouse-persona/1" and prof["name"] == "clinton" and len(prof["lexicon_hash"]) == 64
    assert prof["sources"][0]["sha256"] and prof["sources"][0]["removed_chars"]["stage_directions"] > 0
    assert prof["totals"]["words"] > 5000
    assert prof["vocabulary"]["types"] > 1000 and prof["vocabulary"]["top_words"][0]["count"] > 10
    assert all(p["count"] >= 3 for p in prof["signature_phrases"]) and prof["signature_phrases"]
    sl = prof["sentence_length"]
    assert sl["count"] > 100 and sl["p10"] <= sl["median"] <= sl["p90"] and sum(sl["histogram"].values()) == sl["count"]
    assert prof["questions"]["count"] > 0 and 0 < prof["questions"]["rate"] < 1
    assert prof["second_person"]["count"] > 0 and prof["second_person"]["rate_per_1000_words"] > 0
    for k in ("hedges", "metaphor_patterns", "teaching_patterns"):
        assert prof[k]["count"] == sum(i["count"] for i in prof[k]["items"]) > 0
    pm = prof["personality_markers"]
    assert set(pm["traits"]) == {"openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"}
    assert pm["categories"]["first_person_plural"]["count"] > 0 and "Pennebaker" in pm["lexicon"]
    assert prof["emotional_expression"]["positive_emotion"]["count"] > 0


def test_pretrain_chunks_are_the_speakers_words_without_stage_directions(clinton):
    chunks = _lines(clinton.pretrain_path)
    assert len(chunks) == clinton.chunks > 5
    raw = _norm(re.sub(r"\[[A-Za-z ]+\]", " ", " ".join(Path(s).read_text() for s in CLINTON)))
    for c in chunks:
        assert "[Applause]" not in c["text"] and "[laughter]" not in c["text"].lower()
        assert _norm(c["text"]) in raw  # the speaker's words in order, only the stage directions taken out
        assert c["metadata"]["source_chunk_id"] and c["metadata"]["persona"] == "clinton"


def test_dialogue_pairs_answer_with_the_transcripts_own_words(clinton):
    pairs = _lines(clinton.dialogue_path)
    assert pairs and clinton.pairs_rhetorical == len(pairs)
    raw = _norm(" ".join(Path(s).read_text() for s in CLINTON))
    chunk_ids = {c["metadata"]["source_chunk_id"] for c in _lines(clinton.pretrain_path)}
    for p in pairs:
        roles = [m["role"] for m in p["messages"]]
        assert roles == ["system", "user", "assistant"] and "Bill Clinton" in p["messages"][0]["content"]
        q, a = p["messages"][1]["content"], p["messages"][2]["content"]
        assert q.endswith("?") and _norm(q) in raw
        assert _norm(a) in raw  # verbatim or trimmed at a sentence, never invented
        assert _norm(q + " " + a) in raw  # the answer is what the speaker said right after the question
        meta = p["metadata"]
        assert meta["question_source"] == "rhetorical" and meta["source_chunk_id"] in chunk_ids
        assert 0 <= meta["voice_consistency"] <= 1 and meta["persona"] == "clinton"


def test_subtitles_speaker_filter_boilerplate_and_rolling_captions(tmp_path):
    cfg = persona_config()
    t = read_transcript(VTT, cfg, speaker="Rowan Ellis")
    text = t.text
    assert t.format == "vtt" and t.removed["other_speaker"] > 0
    for gone in ("Welcome back", "SleepWell", "subscribe", "Today I'm talking", "00:00", "<v"):
        assert gone not in text
    assert "Think of it like a river cutting a channel." in text
    everyone = read_transcript(VTT, cfg)
    assert "Today I'm talking" in everyone.text and "SleepWell" not in everyone.text and "[Music]" not in everyone.text
    assert everyone.removed["boilerplate_sentences"] > 0 and everyone.removed["stage_directions"] > 0
    s = read_transcript(SRT, cfg)
    assert s.format == "srt" and "intro music" not in s.text and "[laughter]" not in s.text
    assert s.text.count("What does it actually mean to feel") == 1  # rolling repeats kept once
    assert "feel overwhelmed by the day you have ahead? It means" in s.text  # cues joined across lines
    assert "Thanks for watching" not in s.text


def test_model_questions_from_an_endpoint_and_resume(tmp_path):
    with StubServer() as srv:
        model = open_model(srv.url, Sampling.defaults(max_new_tokens=40))
        rep = build_persona("rowan", [VTT, SRT], str(tmp_path), model=model, seed=3, speaker=None,
                            display_name="Dr. Rowan Ellis")
        pairs = _lines(rep.dialogue_path)
        asked = [p for p in pairs if p["metadata"]["question_source"] == "model"]
        assert asked and rep.pairs_model == len(asked)
        src = _norm(read_transcript(VTT, persona_config()).text + " " + read_transcript(SRT, persona_config()).text)
        for p in pairs:
            assert _norm(p["messages"][-1]["content"]) in src
        q = asked[0]
        assert q["messages"][1]["content"].startswith("What should a listener do")
        assert q["metadata"]["model"] == "stub-model" and q["metadata"]["model_endpoint"] == srv.url
        assert q["metadata"]["seed"] == 3 and q["metadata"]["sampling"]["max_new_tokens"] == 40
        # pairs from one source chunk share its id (one dedup cluster)
        by_chunk: dict[str, set[str]] = {}
        for p in pairs:
            by_chunk.setdefault(p["metadata"]["source_chunk_id"], set()).add(p["metadata"]["question_source"])
        assert any(v == {"model", "rhetorical"} for v in by_chunk.values())
        before = Path(rep.dialogue_path).read_bytes()
        n_requests = len(srv.requests)
        rep2 = build_persona("rowan", [VTT, SRT], str(tmp_path), model=model, seed=3, display_name="Dr. Rowan Ellis")
        assert Path(rep2.dialogue_path).read_bytes() == before and len(srv.requests) == n_requests  # nothing redone
        assert rep2.pairs_resumed == len(pairs)


def test_voice_consistency_is_pure_bounded_and_prefers_the_speaker(clinton):
    prof = json.loads(Path(clinton.profile_path).read_text())
    frozen = json.dumps(prof, sort_keys=True)
    own = Path(CLINTON[0]).read_text()[20000:21500]
    scores = [voice_consistency(own, prof) for _ in range(2)]
    assert scores[0] == scores[1] and 0 <= scores[0] <= 1
    assert json.dumps(prof, sort_keys=True) == frozen  # the profile is not touched
    assert voice_consistency(own, prof) > voice_consistency(THERAPY, prof) + 0.2
    assert voice_consistency("", prof) == 0.0 and voice_consistency("hello", {}) == 0.0
    comps = voice_components(THERAPY, prof)
    assert set(comps) <= {"style", "vocabulary", "sentence_length", "rates", "signature"} and all(0 <= v <= 1 for v in comps.values())
    # importable where the quality stage-4 threshold expects it
    from importlib import import_module

    assert import_module("lakehouse.generate.persona").voice_consistency is voice_consistency


def test_dual_persona_pairs_tagged_and_each_voice_closer_to_its_own_profile(tmp_path):
    with StubServer() as srv:  # model-written questions, so both voices have pairs
        model = open_model(srv.url, Sampling.defaults(max_new_tokens=40))
        reps, dual_path, cross = build_dual([("obama", OBAMA), ("bush", [BUSH])], str(tmp_path), model=model)
    pairs = _lines(dual_path)
    assert {p["metadata"]["persona"] for p in pairs} == {"obama", "bush"}
    assert len(pairs) == sum(r.pairs_rhetorical + r.pairs_model for r in reps)
    for p in pairs:  # each pair names its voice in the system message
        assert p["messages"][0]["content"].startswith(f"You are {p['metadata']['persona']}.")
    assert all(Path(r.profile_path).exists() for r in reps)
    assert cross["obama"]["obama"] > cross["obama"]["bush"] and cross["bush"]["bush"] > cross["bush"]["obama"]
    report = json.loads((tmp_path / "dual_obama_bush_report.json").read_text())
    assert report["personas"] == ["obama", "bush"] and report["mean_voice_consistency"] == cross
    with pytest.raises(GeneratorError, match="two different names"):
        build_dual([("a", [BUSH]), ("a", [BUSH])], str(tmp_path))


def test_cli_build_score_and_errors(tmp_path, local_root):
    from lakehouse.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["persona", "build", *CLINTON, "--name", "clinton",
                              "--output", str(tmp_path), "--no-progress", "--register"])
    assert res.exit_code == 0, res.output
    assert "persona clinton:" in res.stdout and "registered" in res.stdout
    prof = tmp_path / "clinton_profile.json"
    assert registered_profiles() == [("personas/clinton_profile.json", prof.read_bytes())]
    (tmp_path / "t.txt").write_text(THERAPY)
    res = runner.invoke(app, ["persona", "score", str(tmp_path / "t.txt"), "--profile", str(prof), "--json"])
    assert res.exit_code == 0 and 0 <= json.loads(res.stdout)["voice_consistency"] <= 1
    res = runner.invoke(app, ["persona", "build", str(tmp_path / "missing.txt"), "--name", "x", "--output", str(tmp_path)])
    assert res.exit_code == 2 and "no such file" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["persona", "build", BUSH, "--name", "bad name!", "--output", str(tmp_path)])
    assert res.exit_code == 2 and "--name" in res.output
    res = runner.invoke(app, ["persona", "dual", "--persona", f"a={BUSH}", "--output", str(tmp_path)])
    assert res.exit_code == 2 and "exactly twice" in res.output


def test_register_profile_under_the_root(tmp_path, local_root):
    p = tmp_path / "x_profile.json"
    p.write_text("{}")
    uri = register_profile(str(p))
    assert uri.endswith("personas/x_profile.json") and Path(uri).read_text() == "{}"


@pytest.mark.s3
def test_transcripts_from_s3(tmp_path, s3_root):
    from lakehouse.storage import Storage

    st = Storage.from_env()
    st.write_bytes("talks/lecture.vtt", Path(VTT).read_bytes())
    st.write_bytes("talks/captions.srt", Path(SRT).read_bytes())
    rep = build_persona("rowan", [st.uri("talks")], str(tmp_path), speaker=None)
    prof = json.loads(Path(rep.profile_path).read_text())
    assert [s["uri"] for s in prof["sources"]] == [st.uri("talks/captions.srt"), st.uri("talks/lecture.vtt")]
    assert re.fullmatch(r"[0-9a-f]{64}", prof["sources"][0]["sha256"])


def test_labelled_text_speaker_filter_and_rebuilds(tmp_path):
    t = tmp_path / "interview.txt"
    body = ("HOST: Welcome to the show. Today we talk about sleep and worry.\n"
            "ROWAN: Thanks. Why do worries get louder at night? Because the day's noise is gone, and your mind "
            "finally has room to replay everything you postponed. That's normal, more or less. Think of it like "
            "a kettle that only whistles once the kitchen goes quiet.\n"
            "HOST: So what should people do?\n"
            "ROWAN: Write the worry down before bed. For example, one line per worry, and one small next step for each.\n")
    t.write_text(body * 4)
    rep = build_persona("rowan", [str(t)], str(tmp_path / "o"), speaker="rowan")
    chunks = " ".join(c["text"] for c in _lines(rep.pretrain_path))
    assert "Welcome to the show" not in chunks and "So what should people do" not in chunks
    assert "ROWAN:" not in chunks and "Write the worry down before bed." in chunks
    prof = json.loads(Path(rep.profile_path).read_text())
    assert prof["speaker_filter"] == "rowan" and prof["sources"][0]["removed_chars"]["other_speaker"] > 0
    pairs = _lines(rep.dialogue_path)
    assert pairs and pairs[0]["messages"][1]["content"] == "Why do worries get louder at night?"
    # a rebuild from other transcripts replaces the pairs instead of mixing two builds
    rep2 = build_persona("rowan", [SRT], str(tmp_path / "o"))
    assert all(p["metadata"]["source_uri"] == SRT for p in _lines(rep2.dialogue_path))


def test_progress_line_has_rate_and_eta():
    from lakehouse.generate.runio import Progress

    p = Progress("edge-cases", 10, enabled=False)
    p.advance(4)
    line = p.line()
    assert line.startswith("edge-cases: 4/10 (") and "/s, ETA " in line
    assert Progress("x", 0, enabled=False).line().startswith("x: 0 (")
