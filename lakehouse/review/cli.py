"""``lakehouse qa``: clinician QA of a release (mounted through SUBAPPS in lakehouse/cli.py), and the
``lakehouse release signoff`` command (registered on the release group by lakehouse/cli.py)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Clinician QA: sample a release for review, record decisions, bias report.")


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _storage(root: Optional[str]):  # type: ignore[no-untyped-def]
    from lakehouse.storage import Storage

    return Storage.from_env(root)


def _errors():  # type: ignore[no-untyped-def]
    from lakehouse.review.config import ReviewConfigError
    from lakehouse.review.release import ReviewError

    return (ReviewError, ReviewConfigError)


@app.command("sample")
def sample_command(
    version: str = typer.Argument(..., help="Release version, or latest."),
    per_family: Optional[int] = typer.Option(None, "--per-family", help="Records per family (default: rubric.yml sampling.per_family)."),
    seed: int = typer.Option(42, "--seed", help="Sampling seed: the same seed and release give the same sample."),
    quarantined: Optional[int] = typer.Option(None, "--quarantined", help="Quarantined records per source family "
                                              "(reasons a review may override), shown redacted; 0 for none."),
    force: bool = typer.Option(False, "--force", help="Replace an existing, different sample of this release."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Draw a deterministic, stratified review sample: reviews/<version>/qa_samples.csv and index.html."""
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from lakehouse.review.sample import draw_sample

    storage = _storage(root)
    try:
        res = draw_sample(storage, version, per_family=per_family, seed=seed, quarantined_per_family=quarantined,
                          force=force)
    except _errors() as e:
        _err(str(e))
        raise typer.Exit(2)
    what = "unchanged" if res.unchanged else "written"
    typer.echo(f"review sample of {res.version}: {len(res.records)} records ({what})")
    typer.echo("  by family: " + (", ".join(f"{k}={v}" for k, v in res.by_family.items()) or "none"))
    strata: dict[str, int] = {}
    for r in res.records:
        strata[r.stratum] = strata.get(r.stratum, 0) + 1
    typer.echo("  by stratum: " + (", ".join(f"{k}={v}" for k, v in sorted(strata.items())) or "none"))
    for name, key in res.keys.items():
        typer.echo(f"  {name}: {storage.uri(key)}")


@app.command("record")
def record_command(
    decisions: str = typer.Argument(..., help="The filled-in qa_samples.csv (or any CSV with record_id, release, verdict, notes and rubric columns)."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Your reviewer id (or a reviewer column in the CSV)."),
    release: Optional[str] = typer.Option(None, "--release", help="Release of rows without a release column."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Validate review decisions and append them to the Delta table reviews/decisions (no message text)."""
    from lakehouse.review.record import DECISIONS_TABLE, record_decisions

    storage = _storage(root)
    try:
        res = record_decisions(storage, decisions, reviewer=reviewer, release=release)
    except _errors() as e:
        problems = getattr(e, "problems", None)
        if problems:
            _err(f"{decisions}: {len(problems)} bad row(s); nothing was recorded")
            for p in problems:
                typer.echo(f"  {p}", err=True)
        else:
            _err(str(e))
        raise typer.Exit(2)
    typer.echo(f"{decisions}: {res.decisions} decision(s), {res.appended} recorded, {res.already_recorded} already "
               f"recorded, {res.skipped_blank} row(s) without a verdict skipped -> {storage.uri(DECISIONS_TABLE)}")
    if res.by_verdict:
        typer.echo("  new by verdict: " + ", ".join(f"{k}={v}" for k, v in res.by_verdict.items()))


@app.command("bias")
def bias_command(
    version: str = typer.Argument(..., help="Release version, or latest."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Compare with this release's bias report."),
    output: Optional[str] = typer.Option(None, "--output", help="Write here instead of reviews/<version>/bias.json."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Compute the bias report of a published release (for releases exported without reports/bias.json)."""
    from lakehouse.review.bias import bias_report, load_bias_report
    from lakehouse.review.release import iter_release_records, manifest_of, resolve_version, review_key

    storage = _storage(root)
    try:
        v = resolve_version(storage, version)
        manifest, _ = manifest_of(storage, v)
        base = load_bias_report(storage, baseline) if baseline else None
        rep = bias_report(iter_release_records(storage, v, manifest), base, release=v)
    except _errors() as e:
        _err(str(e))
        raise typer.Exit(2)
    data = (json.dumps(rep, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    key = output or review_key(v, "bias.json")
    if output and not output.startswith("s3://"):
        with open(output, "wb") as f:
            f.write(data)
    else:
        storage.write_bytes(key, data)
    st = rep["stereotyping"]["overall"]
    typer.echo(f"bias report of {v}: {rep['records']} records, {st['records_flagged']} with stereotyping flags "
               f"({st['rate']:.2%}); languages " + ", ".join(f"{k}={n}" for k, n in rep["language"]["overall"]["counts"].items()))
    typer.echo(f"  -> {output or storage.uri(key)}")


@app.command("status")
def status_command(
    version: str = typer.Argument(..., help="Release version, or latest."),
    min_reviewers: int = typer.Option(1, "--min-reviewers"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Review progress of a release: sampled and reviewed records per required family, verdicts, signoff."""
    from lakehouse.review.release import resolve_version
    from lakehouse.review.signoff import review_coverage, signoff_state

    storage = _storage(root)
    try:
        v = resolve_version(storage, version)
        cov = review_coverage(storage, v, min_reviewers=min_reviewers)
        state = signoff_state(storage, v)
    except _errors() as e:
        _err(str(e))
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps({"release": v, "coverage": cov, "signoff": state}, indent=2, sort_keys=True, default=str))
        return
    if cov["sample"] is None:
        typer.echo(f"release {v}: no review sample yet (lakehouse qa sample {v})")
    else:
        typer.echo(f"release {v}: {cov['sample']['records']} sampled; reviewers: {', '.join(cov['reviewers']) or 'none'}")
        for fam, f in cov["families"].items():
            typer.echo(f"  {fam} ({f['why']}): {f['reviewed']}/{f['sampled']} reviewed by >= {min_reviewers}")
        typer.echo("  verdicts: " + (", ".join(f"{k}={n}" for k, n in cov["verdicts"].items()) or "none"))
    typer.echo(f"  signoff: {state['state']}")


def signoff_command(
    version: str = typer.Argument(..., help="Release version, or latest."),
    reviewer: str = typer.Option(..., "--reviewer", help="Your reviewer id (release manager / clinical lead)."),
    decision: str = typer.Option(..., "--decision", help="approve, reject or revoke."),
    notes: str = typer.Option("", "--notes", help="Why (kept in signoff.json and reviews/signoffs)."),
    min_reviewers: Optional[int] = typer.Option(None, "--min-reviewers", help="Reviewers each sampled foundation / "
                                                "edge-case record needs (default: rubric.yml signoff.min_reviewers, 1)."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root."),
) -> None:
    """Record the release decision: reviews/<version>/signoff.json (hashed) and a row in reviews/signoffs."""
    from lakehouse.review.signoff import sign_off

    storage = _storage(root)
    try:
        res = sign_off(storage, version, reviewer=reviewer, decision=decision, notes=notes, min_reviewers=min_reviewers)
    except _errors() as e:
        _err(str(e))
        raise typer.Exit(2)
    qa = res.body["qa"]
    typer.echo(f"release {res.version}: {res.decision} by {reviewer} recorded -> {storage.uri(res.key)} "
               f"(sha256 {res.sha256[:16]})")
    if qa.get("families"):
        typer.echo("  reviewed: " + ", ".join(f"{k} {f['reviewed']}/{f['sampled']}" for k, f in qa["families"].items()))
    if qa.get("verdicts"):
        typer.echo("  verdicts: " + ", ".join(f"{k}={n}" for k, n in qa["verdicts"].items()))


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
