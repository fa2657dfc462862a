"""CLI consistency: `latest` everywhere, --json, --version, one-line errors, build --version merged
into --vars, dbt colours off outside a terminal, land help texts, LAKEHOUSE_CONFIG_DIR."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app

runner = CliRunner()
GOOD = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_top_level_version():
    from lakehouse import __version__

    r = invoke("--version")
    assert r.exit_code == 0 and r.output.strip() == f"lakehouse {__version__}"


def test_land_json_and_help_texts(local_root, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(GOOD + "\n")
    r = invoke("land", str(f), "--source", "s", "--family", "mental_health_datasets", "--license", "MIT", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["rows"] == 1 and doc["landed"] == 1 and doc["files"][0]["shape"] == "chatml"
    assert doc["files"][0]["coverage"]["converted"] == {"sft": 1}
    # every land option has help text
    import click
    import typer.main

    cmd = typer.main.get_command(app).commands["land"]  # type: ignore[attr-defined]
    undocumented = [p.name for p in cmd.params if isinstance(p, click.Option) and not (p.help or "").strip()
                    and p.name != "help"]
    assert undocumented == []


def _fake_dbt(tmp_path: Path, rc: int = 1) -> Path:
    script = tmp_path / "dbt"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'args.txt'}\necho dbt-output-line\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_build_merges_version_into_vars_and_turns_colours_off(local_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DBT", str(_fake_dbt(tmp_path)))
    tok = tmp_path / "tok"
    tok.mkdir()
    r = invoke("build", "--version", "v9", "--vars", "{split_seed: 7, release_version: v-old}", "--tokenizer", str(tok),
               "--threads", "1")
    assert r.exit_code == 1 and "dbt build failed" in r.output
    args = (tmp_path / "args.txt").read_text().splitlines()
    assert args.count("--vars") == 1
    assert json.loads(args[args.index("--vars") + 1]) == {"release_version": "v9", "split_seed": 7, "tokenizer": str(tok)}
    assert "--no-use-colors" in args                    # CliRunner's stdout is not a terminal
    assert args[-2:] == ["--threads", "1"]              # other dbt arguments pass through
    r = invoke("build", "--vars", "[1, 2]")
    assert r.exit_code == 2 and r.output.startswith("error: --vars must be a mapping")
    r = invoke("build", "--tokenizer", str(tmp_path / "missing"))
    assert r.exit_code == 2 and "not a folder" in r.output


def test_build_json_keeps_stdout_for_json(local_root, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("LAKEHOUSE_DBT", str(_fake_dbt(tmp_path, rc=0)))
    from lakehouse.cli import main

    monkeypatch.setattr("sys.argv", ["lakehouse", "build", "--json"])
    with pytest.raises(SystemExit):
        main()
    out, err = capfd.readouterr()
    assert "dbt-output-line" in err and "dbt-output-line" not in out   # dbt's output went to stderr
    assert "no release under" in err                                   # nothing was built by the fake dbt


def test_training_extra_missing_is_one_line():
    import typer

    from lakehouse.cli import TRAIN_EXTRA_MISSING, needs_training_extra

    @needs_training_extra
    def train() -> None:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    with pytest.raises(typer.Exit) as e:
        train()
    assert e.value.exit_code == 2 and TRAIN_EXTRA_MISSING == "the training extra is not installed: pip install -e '.[train]'"

    @needs_training_extra
    def other() -> None:
        raise ModuleNotFoundError("No module named 'foo'", name="foo")

    with pytest.raises(ModuleNotFoundError):
        other()


def test_latest_and_errors_without_a_release(local_root):
    for args in (("release", "show", "latest"), ("release", "verify", "latest"),
                 ("export", "llamafactory", "latest", "--output", "x")):
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: no release under") and "Traceback" not in r.output
    r = invoke("release", "show", "v-missing")
    assert r.exit_code == 2 and "release v-missing not found" in r.output
    r = invoke("release", "list", "--json")
    assert r.exit_code == 0 and json.loads(r.output) == []


def _fake_release(root: str, version: str, created: str) -> None:
    base = Path(root) / "exports" / "releases" / version
    base.mkdir(parents=True)
    (base / "manifest.json").write_text(json.dumps({
        "format": "lakehouse-release/1", "version": version, "created_at": created, "seed": 42,
        "counts": {"records": 0, "by_split": {}, "by_family": {}, "by_kind": {}}, "files": []}))


def test_latest_is_the_newest_release(local_root):
    _fake_release(local_root, "v-b", "2026-01-01T00:00:00Z")
    _fake_release(local_root, "v-a", "2026-02-01T00:00:00Z")   # newer, though it sorts first by name
    r = invoke("release", "show", "latest", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["version"] == "v-a"
    r = invoke("release", "verify", "latest")
    assert r.exit_code == 0 and "release v-a: OK" in r.output
    r = invoke("release", "list", "--json")
    assert [x["version"] for x in json.loads(r.output)] == ["v-a", "v-b"]
    from lakehouse.storage import Storage
    from lakehouse.training.release import resolve_release_uri

    assert resolve_release_uri("latest", Storage.from_env()).endswith("/exports/releases/v-a")


def test_config_dir_overrides_policy_yamls(tmp_path, monkeypatch):
    from lakehouse.config import PACKAGED_CONFIG_DIR, ConfigError, config_hash, config_path, config_sources
    from lakehouse.dedup.config import load_dedup_config

    monkeypatch.delenv("LAKEHOUSE_CONFIG_DIR", raising=False)
    base_hash = config_hash()
    assert config_path("dedup.yml") == PACKAGED_CONFIG_DIR / "dedup.yml"
    assert load_dedup_config().threshold == 0.8
    d = tmp_path / "cfg"
    d.mkdir()
    text = (PACKAGED_CONFIG_DIR / "dedup.yml").read_text().replace("threshold: 0.8", "threshold: 0.9")
    assert "threshold: 0.9" in text
    (d / "dedup.yml").write_text(text)
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(d))
    assert config_path("dedup.yml") == d / "dedup.yml"
    assert config_path("privacy.yml") == PACKAGED_CONFIG_DIR / "privacy.yml"   # not overridden: packaged
    assert load_dedup_config().threshold == 0.9
    assert config_hash() != base_hash and config_sources()["dedup.yml"] == str(d / "dedup.yml")
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="is not a folder"):
        config_path("dedup.yml")
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(d))
    from lakehouse.privacy.config import default_config_text
    from lakehouse.shapes.validate import load_policy

    assert default_config_text() == (PACKAGED_CONFIG_DIR / "privacy.yml").read_text()
    assert load_policy() is not None
    assert os.environ["LAKEHOUSE_CONFIG_DIR"] == str(d)


def test_land_progress_shows_bytes_and_eta(local_root, tmp_path, capsys):
    import polars as pl

    from lakehouse.landing import land

    big = tmp_path / "big.jsonl"
    big.write_text("".join(GOOD.replace("hi", f"hi {i}") + "\n" for i in range(3000)))
    pq = tmp_path / "t.parquet"
    pl.DataFrame({"prompt": ["how do I sleep?", "how do I rest?"], "response": ["try a routine", "slow down"]}) \
        .write_parquet(pq)
    gz = Path(__file__).resolve().parent / "fixtures" / "samples" / "hh_rlhf"
    for path, source in ((big, "big"), (pq, "pq"), (gz, "gz")):
        rep = land([str(path)], source=source, family="mental_health_datasets", license_tag="MIT", progress=True)
        assert not rep.failed and rep.rows > 0, [f.error for f in rep.failed]
    err = capsys.readouterr().err
    assert "kB of" in err and "ETA" in err and "files" in err and "3000 rows" in err
