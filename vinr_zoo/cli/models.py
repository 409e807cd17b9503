"""``vinr pull``, ``vinr push``, ``vinr list`` and ``vinr info``: models in the zoo, on disk and on the Hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.cards import training_metrics
from vinr_zoo.cli.app import command, print_table
from vinr_zoo.hub import list_hub_models
from vinr_zoo.publish import human_size, model_details
from vinr_zoo.publish import pull as run_pull
from vinr_zoo.publish import push as run_push
from vinr_zoo.zoo import list_zoo

PUSH_FLAGS = {"with_onnx": "--with-onnx"}
PULL_FLAGS = {"output": "-o/--output"}


@command(flags=PULL_FLAGS)
def pull(
    name: Annotated[str, typer.Argument(help="Zoo name, local directory, or Hub id user/repo or user/repo@REV.")],
    revision: Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit sha.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Also copy the model directory here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output directory.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Hub cache (default: HF_HUB_CACHE under HF_HOME).")] = None,
) -> None:
    """Fetch and validate a model: embedded zoo name, then local directory, then Hub repo (HF_TOKEN, HF_HUB_OFFLINE)."""
    result = run_pull(name, revision=revision, output=output, overwrite=overwrite, cache_dir=cache_dir)
    r, c = result.resolved, result.config
    where = {"zoo": "embedded zoo, sha256 verified", "local": "local directory", "hub": "Hugging Face Hub"}[r.kind]
    typer.echo(f"pulled {r.label} ({where})")
    if r.commit:
        typer.echo(f"commit: {r.commit}")
    typer.echo(f"path: {result.path}")
    src = f", source {c.source.width}x{c.source.height}, {c.source.frames} frames" if c.source else ""
    typer.echo(f"valid: {', '.join(result.files)}; {c.num_params:,} parameters{src}")


@command(flags=PUSH_FLAGS)
def push(
    directory: Annotated[Path, typer.Argument(help="Model directory (config.json + model.safetensors).")],
    repo_id: Annotated[str, typer.Argument(help="Hub repo id user/repo (created if missing).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="Branch to commit to (created if new).")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    with_onnx: Annotated[bool, typer.Option("--with-onnx", help="Also upload model.onnx (see vinr export).")] = False,
) -> None:
    """Upload a validated model directory to the Hub in one commit, with a model card (token: HF_TOKEN)."""
    result = run_push(
        directory, repo_id, private=private, revision=revision, commit_message=message, with_onnx=with_onnx
    )
    typer.echo(f"pushed {directory} to {result.repo_id}@{result.revision}: {', '.join(result.files)}")
    typer.echo(f"commit: {result.commit}")
    typer.echo(f"url: {result.commit_url}")


@command("list")
def list_models(
    pattern: Annotated[
        str, typer.Argument(help="Only embedded models whose name matches this shell pattern, e.g. 'bikes-*'.")
    ] = "*",
    hub: Annotated[
        str | None, typer.Option("--hub", metavar="AUTHOR", help="Also list AUTHOR's vinr-zoo models on the Hub.")
    ] = None,
) -> None:
    """List the embedded zoo (name, parameters, source clip, PSNR, SSIM, size on disk) and, with --hub, Hub models."""
    entries = list_zoo(pattern)
    if entries:
        rows = [
            (
                e.name,
                f"{e.params:,}",
                e.source or "-",
                f"{e.metrics['psnr_rgb']:.2f} dB" if "psnr_rgb" in e.metrics else "-",
                f"{e.metrics['ssim']:.4f}" if "ssim" in e.metrics else "-",
                human_size(e.size_bytes),
            )
            for e in entries
        ]
        print_table(("NAME", "PARAMS", "SOURCE", "PSNR", "SSIM", "SIZE"), rows, right=(1, 3, 4, 5), plain=True)
        typer.echo("PSNR: RGB, SSIM: mean over frames, both on the training frames (vinr info NAME for the card)")
    else:
        typer.echo(
            "the embedded zoo is empty (no checkpoints installed)"
            if pattern == "*"
            else f"no embedded model matches {pattern!r} (vinr list shows them all)"
        )
    if hub is None:
        return
    models = list_hub_models(hub)
    typer.echo("")
    if not models:
        typer.echo(f"no vinr-zoo models by {hub} on the Hub")
        return
    rows = [(m.repo_id, m.last_modified or "-", str(m.downloads), "private" if m.private else "") for m in models]
    print_table(("REPO", "UPDATED", "DOWNLOADS", ""), rows, plain=True)


@command()
def info(
    model: Annotated[str, typer.Argument(help="Zoo name, local directory, or Hub id user/repo or user/repo@REV.")],
    revision: Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit sha.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print config, card metadata and files as JSON.")] = False,
) -> None:
    """Show a model's config, model-card metrics and files."""
    d = model_details(model, revision=revision)
    r, c, card = d.resolved, d.config, d.card
    if as_json:
        payload = {
            "model": r.label,
            "kind": r.kind,
            "commit": r.commit,
            "path": str(r.path),
            "config": c.to_dict(),
            "card": None
            if card is None
            else {
                "library_name": card.library_name,
                "license": card.license,
                "tags": card.tags,
                "metrics": [list(m) for m in card.metrics],
            },
            "files": dict(d.files),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(f"model: {r.label} ({r.kind})")
    if r.commit:
        typer.echo(f"commit: {r.commit}")
    typer.echo(f"path: {r.path}")
    typer.echo(f"architecture: {c.architecture}, {c.describe_shape()}, {c.num_params:,} parameters")
    for line in c.info_lines():
        typer.echo(line)
    if c.source is not None:
        s = c.source
        typer.echo(f"source: {s.name or '?'}, {s.width}x{s.height}, {s.frames} frames @ {s.fps:.3f} fps")
        if s.scene_cuts:
            typer.echo(f"scene cuts: new shots at frames {', '.join(map(str, s.scene_cuts))}")
    t = c.training
    if t:
        m = training_metrics(t)
        psnr = f", final PSNR {m['psnr_rgb']:.2f} dB (RGB)" if "psnr_rgb" in m else ""
        psnr += f", {m['psnr_y']:.2f} dB (Y)" if "psnr_y" in m else ""
        psnr += f", SSIM {m['ssim']:.4f}" if "ssim" in m else ""
        typer.echo(
            f"training: {t.get('steps', '?')} steps, {t.get('wall_time_s', '?')} s, "
            f"losses {', '.join(t.get('losses') or []) or '?'}{psnr}"
        )
        held = t.get("stvsr", {}).get("held_out") if isinstance(t.get("stvsr"), dict) else None
        if isinstance(held, dict):
            scores = ", ".join(
                f"{method} {v['psnr_rgb']:.2f} dB"
                for method, v in held.items()
                if isinstance(v, dict) and "psnr_rgb" in v
            )
            typer.echo(f"held-out frames (stvsr, 1 frame in {t['stvsr'].get('scale_t', '?')} fitted): {scores}")
    if card is None:
        typer.echo("card: none (no README.md)")
    else:
        typer.echo(
            f"card: library {card.library_name or '-'}, license {card.license or '-'}, "
            f"tags {', '.join(card.tags) or '-'}"
        )
        for metric, value, dataset in card.metrics:
            typer.echo(f"metric: {metric} = {value} ({dataset})")
    typer.echo("files:")
    print_table(("file", "size"), [(name, human_size(size)) for name, size in d.files], right=(1,), plain=True)
