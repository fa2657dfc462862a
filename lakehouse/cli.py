"""The ``lakehouse`` command: land files, build and verify releases, query, train.

    lakehouse land data/*.jsonl --source counsel_chat --family mental_health_datasets --license MIT
    lakehouse build                      # dbt build --select release, in the project folder
    lakehouse release verify v2026-11-22
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Compile mental-health conversation datasets into a versioned, auditable training release.")
release_app = typer.Typer(no_args_is_help=True, help="Inspect and verify published releases.")
s3_app = typer.Typer(no_args_is_help=True, help="A local S3 server (SeaweedFS) for development.")
app.add_typer(release_app, name="release")
app.add_typer(s3_app, name="s3")


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _show_version(value: bool) -> None:
    if value:
        from lakehouse import __version__

        typer.echo(f"lakehouse {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help="Print the package version and exit."),
) -> None:
    """Compile mental-health conversation datasets into a versioned, auditable training release."""


def _resolve(storage: "object", version: str) -> str:
    """A release version, with `latest` resolved; one-line error and exit 2 when there is none."""
    from lakehouse.export.verify import ReleaseNotFound, resolve_version

    try:
        return resolve_version(storage, version)  # type: ignore[arg-type]
    except ReleaseNotFound as e:
        _err(str(e))
        raise typer.Exit(2)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _parse_role_map(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            if not pair.strip():
                continue
            if "=" not in pair:
                raise typer.BadParameter(f"--role-map expects raw=role pairs, got {pair!r}")
            k, v = pair.split("=", 1)
            out[k.strip()] = v.strip()
    return out


@app.command()
def land(
    inputs: List[str] = typer.Argument(..., help="Files, folders, globs or s3:// URIs/prefixes."),
    source: str = typer.Option(..., "--source", help="Source name: the Delta table raw/<source>."),
    family: str = typer.Option(..., "--family", help="Dataset family (curriculum routing unit)."),
    license_tag: Optional[str] = typer.Option(None, "--license", help="License tag, e.g. MIT, CC-BY-4.0."),
    shape: str = typer.Option("auto", "--format", help="Input shape: auto, or one of chatml, sharegpt, role_list, alpaca, qa, utterance_rows, transcript, preference, kto, text."),
    file_format: Optional[str] = typer.Option(None, "--file-format", help="Force the file format: jsonl, json, csv, parquet, txt."),
    role_map: List[str] = typer.Option([], "--role-map", help="Extra role names: speaker=user,listener=assistant"),
    conversation_key: Optional[str] = typer.Option(None, "--conversation-key", help="Utterance rows: the column that groups rows into one conversation (e.g. conv_id)."),
    turn_key: Optional[str] = typer.Option(None, "--turn-key", help="Utterance rows: the column that orders turns inside a conversation."),
    role_key: Optional[str] = typer.Option(None, "--role-key", help="The field holding a message's speaker/role (default: detected, e.g. role, from, speaker)."),
    text_key: Optional[str] = typer.Option(None, "--text-key", help="The field holding a message's or a document's text (default: detected, e.g. content, value, text)."),
    question_key: Optional[str] = typer.Option(None, "--question-key", help="Q/A tables: the question column (becomes the user turn)."),
    answer_key: Optional[str] = typer.Option(None, "--answer-key", help="Q/A tables: the answer column (becomes the assistant turn)."),
    chunk_chars: Optional[int] = typer.Option(None, "--chunk-chars", help="Plain text: characters per pretraining chunk."),
    edge_case: bool = typer.Option(False, "--edge-case", help="Tag every record is_training_edge_case (bypasses safety filters, never PII redaction)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse a whole file on its first unparseable row (default: quarantine the row)."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root (default: LAKEHOUSE_ROOT or ./lakehouse-data)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress on stderr (files, rows, elapsed) when it is a terminal."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each file's counts and hashes (never text) on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the landing report as JSON on stdout."),
) -> None:
    """Land raw files as the Delta table raw/<source>, with provenance; re-landing a file adds nothing."""
    _setup_logging(verbose)
    from lakehouse.landing import LandingError, land as do_land
    from lakehouse.shapes import ShapeOptions
    from lakehouse.storage import Storage

    kwargs = dict(role_map=_parse_role_map(role_map), conversation_key=conversation_key, turn_key=turn_key,
                  role_key=role_key, text_key=text_key, question_key=question_key, answer_key=answer_key)
    if chunk_chars:
        kwargs["chunk_chars"] = chunk_chars
    options = ShapeOptions(**kwargs)  # type: ignore[arg-type]
    known = _registry_families()
    if known and family not in known:
        typer.echo(f"warning: family {family!r} is not in seeds/release/dataset_registry.csv: its records will be "
                   f"quarantined as unregistered_family until it is added (known: {', '.join(sorted(known))})", err=True)
    try:
        storage = Storage.from_env(root)
        report = do_land(inputs, source=source, family=family, license_tag=license_tag, shape=shape,
                         file_format=file_format, options=options, edge_case=edge_case, strict=strict,
                         storage=storage, progress=progress and sys.stderr.isatty())
    except LandingError as e:
        _err(str(e))
        raise typer.Exit(2)
    if as_json:
        import dataclasses

        typer.echo(json.dumps({"source": source, "landing_id": report.landing_id, "table": storage.uri("raw", source),
                               "rows": report.rows, "landed": sum(f.status == "landed" for f in report.files),
                               "skipped": sum(f.status == "skipped" for f in report.files),
                               "failed": len(report.failed),
                               "files": [dataclasses.asdict(f) for f in report.files]}, indent=2, ensure_ascii=False))
        if report.failed:
            raise typer.Exit(1)
        return
    for f in report.files:
        if f.status == "failed":
            _err(f.error or f.source_key)
        elif f.status == "skipped":
            typer.echo(f"skipped  {f.source_key} (already landed, sha256 {f.file_sha256[:12] if f.file_sha256 else ''})")
        else:
            typer.echo(f"landed   {f.source_key}: {f.rows} rows, shape {f.shape} ({f.input_format}; {f.shape_reason})")
            cov = f.coverage
            if cov is not None:
                parts = [f"{v} {k}" for k, v in sorted(cov.converted.items())]
                if cov.grouped_rows:
                    parts.append(f"{cov.grouped_rows} utterance rows (grouped into conversations at build)")
                line = "         converts to " + (", ".join(parts) or "nothing")
                if cov.quarantined:
                    line += "; quarantined " + ", ".join(f"{v} {k}" for k, v in sorted(cov.quarantined.items()))
                if cov.repairs:
                    line += "; repaired " + ", ".join(f"{v} {k}" for k, v in sorted(cov.repairs.items()))
                typer.echo(line)
    landed = [f for f in report.files if f.status == "landed"]
    typer.echo(f"{source}: {len(landed)} file(s) landed, {report.rows} rows, "
               f"{sum(f.status == 'skipped' for f in report.files)} skipped, {len(report.failed)} failed "
               f"-> {storage.uri('raw', source)} (landing {report.landing_id})")
    if report.failed:
        raise typer.Exit(1)


def _registry_families() -> set[str]:
    import csv

    path = project_dir() / "seeds" / "release" / "dataset_registry.csv"
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {row["family"] for row in csv.DictReader(f)}


def project_dir() -> Path:
    """The dbt project folder: LAKEHOUSE_PROJECT_DIR, or the checkout this package runs from, or cwd."""
    env = os.environ.get("LAKEHOUSE_PROJECT_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    if (here / "dbt_project.yml").exists():
        return here
    return Path.cwd()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def build(
    ctx: typer.Context,
    version: Optional[str] = typer.Option(None, "--version", help="Release version (default v<YYYY-MM-DD>); merged into --vars."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="Local tokenizer folder (tokenizer.json) for the report's token counts (default: characters / 4, labelled an estimate)."),
    as_json: bool = typer.Option(False, "--json", help="Print the release summary as JSON on stdout (dbt's output goes to stderr)."),
) -> None:
    """Run `dbt build --select release` (extra arguments go to dbt, e.g. --vars '{...}') and print the release summary."""
    env = dict(os.environ)
    if root:
        env["LAKEHOUSE_ROOT"] = root
    proj = project_dir()
    env.setdefault("LAKEHOUSE_PROJECT_DIR", str(proj))
    dbt = Path(os.environ.get("LAKEHOUSE_DBT") or Path(sys.executable).parent / "dbt")   # LAKEHOUSE_DBT: another dbt
    cmd = [str(dbt) if dbt.exists() else "dbt", "build", "--select", "release", "--project-dir", str(proj),
           "--profiles-dir", str(proj)]
    extra = list(ctx.args)
    try:
        dbt_vars, extra = _split_vars(extra)
    except ValueError as e:
        _err(str(e))
        raise typer.Exit(2)
    if version:
        dbt_vars["release_version"] = version
    if tokenizer:
        if not os.path.isdir(os.path.expanduser(tokenizer)):
            _err(f"--tokenizer {tokenizer}: not a folder (give a local tokenizer folder holding tokenizer.json)")
            raise typer.Exit(2)
        dbt_vars["tokenizer"] = os.path.abspath(os.path.expanduser(tokenizer))
    if dbt_vars:
        cmd += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    if as_json or not sys.stdout.isatty():
        cmd.append("--no-use-colors")   # no ANSI codes in logs, pipes and CI
    cmd += extra
    # the build database holds unredacted text in intermediate tables: unless LAKEHOUSE_DUCKDB_PATH
    # says otherwise it lives in a private (0700) temp folder removed after the build (README, access)
    import shutil
    import tempfile

    from lakehouse.supervise import run_supervised

    private_db = None if env.get("LAKEHOUSE_DUCKDB_PATH") else tempfile.mkdtemp(prefix="lakehouse-build-")
    if private_db:
        env["LAKEHOUSE_DUCKDB_PATH"] = os.path.join(private_db, "lakehouse.duckdb")
    saved_stdout = None
    if as_json:   # stdout carries only the JSON summary: dbt writes to stderr
        sys.stdout.flush()
        saved_stdout = os.dup(1)
        os.dup2(2, 1)
    try:
        rc = run_supervised(cmd, env=env, cwd=str(proj))   # dbt dies with this process (own group, watchdog)
    finally:
        if saved_stdout is not None:
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)
        if private_db:
            shutil.rmtree(private_db, ignore_errors=True)
    if rc != 0:
        _err("dbt build failed: a gate or a model failed, nothing was published (see the dbt output above)")
        raise typer.Exit(rc)
    from lakehouse.export import list_releases
    from lakehouse.storage import Storage

    storage = Storage.from_env(root)
    v = dbt_vars.get("release_version") or _resolve(storage, "latest")
    if as_json:
        typer.echo(json.dumps(_release_summary(storage, str(v)), indent=2, ensure_ascii=False))
        return
    _print_release(storage, str(v))


def _split_vars(args: list[str]) -> tuple[dict, list[str]]:
    """Take dbt's --vars out of extra arguments (YAML or JSON mapping); the rest unchanged."""
    import yaml

    merged: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--vars" or a.startswith("--vars="):
            if a == "--vars":
                if i + 1 >= len(args):
                    raise ValueError("--vars needs a value, e.g. --vars '{split_seed: 7}'")
                text, i = args[i + 1], i + 2
            else:
                text, i = a.split("=", 1)[1], i + 1
            try:
                value = yaml.safe_load(text) or {}
            except yaml.YAMLError as e:
                raise ValueError(f"--vars is not a YAML/JSON mapping: {str(e).splitlines()[0]}") from e
            if not isinstance(value, dict):
                raise ValueError(f"--vars must be a mapping such as '{{split_seed: 7}}', got {text!r}")
            merged.update(value)
            continue
        rest.append(a)
        i += 1
    return merged, rest


def _release_summary(storage: "object", version: str) -> dict:
    """The manifest's identity and counts, where the release and its report are (for --json)."""
    from lakehouse.export import load_manifest
    from lakehouse.export.publish import REPORT_HTML, release_prefix

    m = load_manifest(storage, version)  # type: ignore[arg-type]
    prefix = release_prefix(version)
    out = {k: m.get(k) for k in ("version", "created_at", "git_commit", "package_version", "seed", "config_hash")}
    out.update({"uri": storage.uri(prefix), "report": storage.uri(prefix, REPORT_HTML),  # type: ignore[attr-defined]
                "files": len(m.get("files") or []), "counts": m.get("counts")})
    audit_key = f"{prefix}/reports/audit.json"
    if storage.exists(audit_key):  # type: ignore[attr-defined]
        audit = json.loads(storage.read_bytes(audit_key))  # type: ignore[attr-defined]
        out["quarantine_by_reason"] = audit.get("quarantine_by_reason") or {}
        out["redactions_by_entity_type"] = audit.get("redactions_by_entity_type") or {}
    from lakehouse.review.signoff import signoff_state

    out["signoff"] = signoff_state(storage, version)  # type: ignore[arg-type]
    return out


def _print_release(storage: "object", version: str) -> None:
    from lakehouse.export import load_manifest
    from lakehouse.export.publish import release_prefix

    m = load_manifest(storage, version)  # type: ignore[arg-type]
    c = m["counts"]
    typer.echo(f"release {version}: {c['records']} records -> {storage.uri(release_prefix(version))}")  # type: ignore[attr-defined]
    typer.echo("  by split:  " + ", ".join(f"{k}={v}" for k, v in sorted(c["by_split"].items())))
    typer.echo("  by family: " + ", ".join(f"{k}={v}" for k, v in sorted(c["by_family"].items())))
    typer.echo("  by kind:   " + ", ".join(f"{k}={v}" for k, v in sorted(c["by_kind"].items())))
    if c.get("by_config"):
        typer.echo("  configs:   " + ", ".join(f"{k}={sum(v.values())}" for k, v in sorted(c["by_config"].items()))
                   + "  (datasets.load_dataset(<release>, config))")
    if any(f.get("key") == "reports/index.html" for f in m.get("files") or []):
        typer.echo(f"  report:    {storage.uri(release_prefix(version), 'reports/index.html')}")  # type: ignore[attr-defined]
    audit_key = f"{release_prefix(version)}/reports/audit.json"
    if storage.exists(audit_key):  # type: ignore[attr-defined]
        audit = json.loads(storage.read_bytes(audit_key))  # type: ignore[attr-defined]
        removed = {s["step"]: s.get("removed", 0) for s in audit.get("steps", [])}
        typer.echo(f"  removed:   exact dups={removed.get('exact dedup', 0)}, near dups={removed.get('near dedup', 0)}, "
                   f"after redaction={removed.get('pii redaction + post-redaction dedup', 0)}")
        q = audit.get("quarantine_by_reason") or {}
        typer.echo("  quarantined: " + (", ".join(f"{k}={v}" for k, v in sorted(q.items())) or "none")
                   + "  (see the quarantine view / quarantine/records)")
        red = audit.get("redactions_by_entity_type") or {}
        if red:
            typer.echo("  redactions: " + ", ".join(f"{k}={v}" for k, v in sorted(red.items())))
    from lakehouse.review.signoff import signoff_line

    typer.echo(f"  signoff:   {signoff_line(storage, version)}")  # type: ignore[arg-type]


@app.command()
def docs(
    serve: bool = typer.Option(False, "--serve", help="Serve the site on 127.0.0.1 after generating it."),
    port: int = typer.Option(8080, "--port"),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Generate dbt docs (lineage from each landed raw source to the release and training)."""
    from lakehouse.docs import generate_docs
    from lakehouse.storage import Storage

    proj = project_dir()
    rc = generate_docs(Storage.from_env(root), proj)
    if rc != 0:
        _err("dbt docs generate failed (see the dbt output above)")
        raise typer.Exit(rc)
    if serve:
        typer.echo(f"lineage browser: http://127.0.0.1:{port} (Ctrl+C stops)")
        dbt = Path(sys.executable).parent / "dbt"
        raise typer.Exit(subprocess.call([str(dbt) if dbt.exists() else "dbt", "docs", "serve", "--project-dir", str(proj),
                                          "--profiles-dir", str(proj), "--host", "127.0.0.1", "--port", str(port),
                                          "--no-browser"], cwd=str(proj)))


@release_app.command("verify")
def release_verify(version: str = typer.Argument(..., help="Release version, or latest."), root: Optional[str] = typer.Option(None, "--root")) -> None:
    """Re-read every file of a release and check bytes, records and sha256 against its manifest."""
    from lakehouse.export import verify_release
    from lakehouse.export.verify import ReleaseNotFound, UnsafeReleasePath
    from lakehouse.storage import Storage

    storage = Storage.from_env(root)
    version = _resolve(storage, version)
    try:
        res = verify_release(storage, version)
    except (ReleaseNotFound, UnsafeReleasePath) as e:
        _err(str(e))
        raise typer.Exit(2)
    for p in res.problems:
        _err(p)
    if not res.ok:
        typer.echo(f"release {version}: FAILED ({len(res.problems)} problems)")
        raise typer.Exit(1)
    typer.echo(f"release {version}: OK ({res.files_checked} files, {res.records} records verified)")


@release_app.command("list")
def release_list(root: Optional[str] = typer.Option(None, "--root"),
                 as_json: bool = typer.Option(False, "--json", help="Print a JSON list of release summaries.")) -> None:
    """Published releases (those with a manifest)."""
    from lakehouse.export import list_releases
    from lakehouse.storage import Storage

    storage = Storage.from_env(root)
    if as_json:
        typer.echo(json.dumps([_release_summary(storage, v) for v in sorted(list_releases(storage))], indent=2,
                              ensure_ascii=False))
        return
    for v in sorted(list_releases(storage)):
        _print_release(storage, v)


@release_app.command("show")
def release_show(version: str = typer.Argument(..., help="Release version, or latest."),
                 root: Optional[str] = typer.Option(None, "--root"),
                 as_json: bool = typer.Option(True, "--json", help="Print the manifest (+ signoff state) as JSON (the default).")) -> None:
    """Print a release's manifest."""
    from lakehouse.export import load_manifest
    from lakehouse.storage import Storage

    from lakehouse.review.signoff import signoff_state

    from lakehouse.export.verify import ReleaseNotFound, UnsafeReleasePath

    storage = Storage.from_env(root)
    version = _resolve(storage, version)
    try:
        manifest = load_manifest(storage, version)   # refuses versions that leave exports/releases
    except (ReleaseNotFound, UnsafeReleasePath) as e:
        _err(str(e))
        raise typer.Exit(2)
    shown = dict(manifest, signoff=signoff_state(storage, version))  # not in the file: review state
    typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))


def _mount_signoff() -> None:
    from lakehouse.review.cli import signoff_command

    release_app.command("signoff", help="Record the release decision (approve, reject, revoke) after clinician QA.")(signoff_command)


_mount_signoff()


@s3_app.command("serve")
def s3_serve(bucket: str = typer.Option("lakehouse", help="Bucket to create."),
             data_dir: Optional[str] = typer.Option(None, help="Keep data here (default: a temp dir, removed on exit).")) -> None:
    """Start SeaweedFS S3 on a free loopback port and print the environment to use it (Ctrl+C stops)."""
    import time

    from lakehouse.seaweed import SeaweedS3

    with SeaweedS3(data_dir=data_dir) as s3:
        s3.create_bucket(bucket)
        for k, v in s3.env(f"s3://{bucket}/lakehouse").items():
            typer.echo(f"export {k}={v}")
        typer.echo("# SeaweedFS S3 is running; Ctrl+C stops it", err=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


TRAIN_EXTRA_MISSING = "the training extra is not installed: pip install -e '.[train]'"
TRAIN_MODULES = ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "tokenizers")


def needs_training_extra(fn):  # type: ignore[no-untyped-def]
    """Run ``fn``; a missing training dependency is one line (the install command), not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except ImportError as e:
            name = (getattr(e, "name", None) or "").split(".")[0]
            if name in TRAIN_MODULES:
                _err(f"{TRAIN_EXTRA_MISSING} ({name} is missing)")
                raise typer.Exit(2)
            raise
    return wrapper


def _mount_optional_commands() -> None:
    help_text = "Train on a release: phase A (pretraining), B (staged SFT), C (DPO)."
    try:
        from lakehouse.training.cli import train_command
    except ImportError as e:
        missing = str(e)

        @app.command("train", help=help_text, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
        def train_unavailable(ctx: typer.Context) -> None:
            _err(f"{TRAIN_EXTRA_MISSING} ({missing})")
            raise typer.Exit(2)
        return
    app.command("train", help=help_text)(needs_training_extra(train_command))


def _mount_query_commands() -> None:
    from lakehouse.query.cli import sql_command, trace_command

    app.command("sql", help="Read-only SQL over the lakehouse (views: conversations, messages, quarantine, releases, raw_<source>...).")(sql_command)
    app.command("trace", help="A record's story: source, transformations, dedup decisions, split, releases.")(trace_command)


# Command groups that live beside the feature they drive. Each entry is "module:attribute" of a
# typer.Typer; a group whose module is absent (an optional extra, or not yet written) is skipped.
# Add a line here, and keep the group's code in its own package.
SUBAPPS: dict[str, tuple[str, str]] = {
    "cache": ("lakehouse.engine.cli:app", "Per-record result caches: status and garbage collection."),
    "pii": ("lakehouse.privacy.cli:app", "Redact or scan any ChatML JSONL file with the pipeline's redactor."),
    "quality": ("lakehouse.quality.cli:app", "Score ChatML JSONL with the clinical quality scorers."),
    "qa": ("lakehouse.review.cli:app", "Clinician QA: sample a release for review, record decisions."),
    "generate": ("lakehouse.generate.cli:app", "Generate edge-case chats and preference pairs with a local model or endpoint."),
    "persona": ("lakehouse.generate.persona_cli:app", "Build a voice persona from talk transcripts."),
    "export": ("lakehouse.export.trainers_cli:app", "Export a release for LLaMA-Factory or Axolotl."),
}


def _mount_subapps() -> None:
    import importlib

    for name, (target, help_text) in SUBAPPS.items():
        module, _, attr = target.partition(":")
        try:
            sub = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name and (module == e.name or module.startswith(e.name + ".")):
                continue  # the group's package is not there
            raise
        app.add_typer(sub, name=name, help=help_text)


_mount_query_commands()
_mount_optional_commands()
_mount_subapps()


def main() -> None:
    """Entry point: any error a command does not handle is one line on stderr (its cause: S3
    unreachable, credentials refused, ...) and exit 1; ``--debug`` (anywhere on the command line,
    or LAKEHOUSE_DEBUG=1) shows the traceback instead."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("LAKEHOUSE_DEBUG", "") not in ("", "0")
    sys.argv[1:] = [a for a in sys.argv[1:] if a != "--debug"]
    try:
        app()
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as e:   # SystemExit (typer.Exit, usage errors) passes through untouched
        if debug:
            raise
        from lakehouse.storage import describe_error

        try:
            from lakehouse.config import Settings

            settings = Settings.from_env()
        except Exception:
            settings = None
        _err(describe_error(e, settings) + "  (run with --debug for the traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
