"""Model cards: ``README.md`` with YAML front matter the Hub renders (``model-index`` metrics).

Written by `vinr fit`, completed before a push (library name, tags, licence, metrics), read by ``vinr info``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from vinr_zoo._atomic import atomic_path
from vinr_zoo.config import ModelConfig, finite_number
from vinr_zoo.contract import CARD_NAME
from vinr_zoo.errors import ConfigError, one_line
from vinr_zoo.version import LIBRARY_NAME

TAGS = ("vinr-zoo", "implicit-neural-representation", "siren", "video")
DEFAULT_LICENSE = "other"
_METRIC_NAMES = {
    "psnr_rgb": "PSNR (RGB, training frames)",
    "psnr_y": "PSNR (Y, BT.601 full range, training frames)",
    "ssim": "SSIM (training frames)",
}
# config.json training.* key -> card / registry metric (the fit records them; `vinr eval` reproduces them)
TRAINING_METRICS = {"final_psnr_rgb": "psnr_rgb", "final_psnr_y": "psnr_y", "final_ssim": "ssim"}


def metric_digits(key: str) -> int:
    """Decimals a metric is published with: SSIM 4, PSNR (dB) 3."""
    return 4 if key == "ssim" else 3


def training_metrics(training: object) -> dict[str, float]:
    """The metrics a fit recorded in config.json ``training`` (PSNR RGB, PSNR Y, SSIM — those present)."""
    if not isinstance(training, dict):
        return {}
    return {
        metric: float(training[key]) for key, metric in TRAINING_METRICS.items() if finite_number(training.get(key))
    }


def render_model_card(
    config: ModelConfig,
    metrics: dict[str, float],
    *,
    license: str = "other",
    model_name: str | None = None,
    source_note: str | None = None,
    eval_command: str | None = None,
    model_ref: str = "MODEL",
) -> str:
    """The card's text: YAML metadata (via huggingface_hub's ModelCardData) and a plain body.

    ``source_note`` is a sentence about the source clip (origin, licence); ``eval_command`` the `vinr eval`
    line that reproduces ``metrics``; ``model_ref`` what to pass to `vinr decode` (a folder, zoo name or repo id).
    """
    from huggingface_hub import EvalResult, ModelCardData

    src = config.source
    dataset = Path(src.name).stem if src and src.name else "video"
    name = model_name or f"{config.card_slug()}-{dataset}"
    results = [
        EvalResult(
            task_type="video-reconstruction",
            task_name="Video reconstruction",
            dataset_type=dataset,
            dataset_name=dataset,
            metric_type=key,
            metric_name=_METRIC_NAMES.get(key, key),
            metric_value=round(float(value), metric_digits(key)),
        )
        for key, value in metrics.items()
    ]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=license,
        tags=list(TAGS),
        model_name=name,
        eval_results=results or None,
    )
    t = config.training
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        f"# {name}",
        "",
        f"A {config.TITLE} that stores the video `{dataset}` as a function (x, y, t) → RGB: {config.describe()}.",
        "",
    ]
    if src is not None:
        lines += [
            f"Source: {src.width}x{src.height}, {src.frames} frames at {src.fps:.3f} fps (sha256 `{src.sha256[:16]}…`).",
            "",
        ]
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {_METRIC_NAMES.get(k, k)} | {v:.{metric_digits(k)}f} |" for k, v in metrics.items()]
        lines.append("")
        lines += [
            "Float output clamped to [0, 1], not rounded to 8 bits; definitions in `vinr_zoo/metrics.py`.",
            "",
        ]
        if eval_command:
            lines += ["Reproduce (PSNR within 0.05 dB, SSIM within 0.0005):", "", "```", eval_command, "```", ""]
    lines += _stvsr_section(t.get("stvsr") if isinstance(t, dict) else None)
    if source_note:
        lines += [source_note, ""]
    if t:
        lines += [
            "## Training",
            "",
            f"{t.get('steps', '?')} steps in {t.get('wall_time_s', '?')} s on {t.get('device', '?')}, "
            f"losses: {', '.join(t.get('losses', []))}, batch {t.get('batch_size', '?')} pixels"
            + (f" ({t['sampling']} sampling)" if t.get("sampling") else "")
            + f", peak lr {t.get('lr', '?')}"
            + (
                f", decayed to {t['final_lr_ratio']:g} of it"
                if isinstance(t.get("final_lr_ratio"), (int, float))
                else ""
            )
            + ".",
            "",
        ]
        if t.get("command"):
            lines += ["```", t["command"], "```", ""]
    lines += [
        "## Use",
        "",
        "```",
        f"vinr decode {shlex.quote(model_ref)} -o out.mp4 --scale-s 2 --scale-t 2   # 2x the size, 2x the frames",
        "```",
        "",
    ]
    return "\n".join(lines)


STVSR_LABELS = {
    "model": "this model",
    "trilinear": "linear blend of frames (bilinear in space)",
    "bicubic_blend": "linear blend of frames (bicubic in space)",
    "flow": "DIS optical flow, bidirectional warp",
}


def _stvsr_section(record: object) -> list[str]:
    """The card's table of held-out frames (config.json ``training.stvsr``, written by benchmarks/build_zoo.py)."""
    if not isinstance(record, dict) or not isinstance(record.get("held_out"), dict):
        return []
    s, t = record.get("scale_s", 1), record.get("scale_t", 1)
    lines = [
        "## Frames it never saw",
        "",
        f"STVSR protocol: fitted on the clip area-downsampled by {s} in space keeping 1 frame in {t}, rendered back "
        f"on the full grid of {record.get('frames', '?')} frames; the held-out frames in between are scored "
        "(PSNR pooled over frames, one MSE) beside what a user would otherwise reach for:",
        "",
        "| method | PSNR RGB (held-out) | PSNR Y | SSIM |",
        "|---|---|---|---|",
    ]
    for method, scores in record["held_out"].items():
        if isinstance(scores, dict):
            lines.append(
                f"| {STVSR_LABELS.get(method, method)} | {_digits(scores.get('psnr_rgb'), 3)} | "
                f"{_digits(scores.get('psnr_y'), 3)} | {_digits(scores.get('ssim'), 4)} |"
            )
    lines.append("")
    if record.get("command"):
        lines += ["Reproduce (the same numbers to 0.05 dB, no fit):", "", "```", str(record["command"]), "```", ""]
    return lines


def _digits(value: object, n: int) -> str:
    return f"{value:.{n}f}" if finite_number(value) else "n/a"


def write_model_card(directory: str | Path, config: ModelConfig, metrics: dict[str, float], **kwargs) -> Path:
    path = Path(directory) / CARD_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(render_model_card(config, metrics, **kwargs), encoding="utf-8")
    return path


# ---- publishing and reading -----------------------------------------------------------------------------
def render_card(readme: Path | None, config: ModelConfig, *, model_name: str | None = None) -> str:
    """The README.md to publish: ``readme``'s body with its metadata completed, or a generated card.

    Completed means: ``library_name: vinr-zoo``, the vinr-zoo tags, a license, and, when the card has no
    ``model-index`` yet, the training metrics from config.json (PSNR RGB, PSNR Y, SSIM).
    """
    from huggingface_hub import EvalResult, ModelCard

    metrics = training_metrics(config.training)
    if readme is None or not readme.is_file():
        return render_model_card(config, metrics, license=DEFAULT_LICENSE, model_name=model_name)
    try:
        card = ModelCard(readme.read_text(encoding="utf-8"), ignore_metadata_errors=False)
    except Exception as exc:  # YAML errors and metadata the card class refuses
        raise ConfigError(f"{readme}: the model card's YAML metadata is invalid ({one_line(exc)})") from None
    data = card.data
    data.library_name = LIBRARY_NAME
    tags = [t for t in (data.tags or []) if isinstance(t, str)]
    data.tags = tags + [t for t in TAGS if t not in tags]
    data.license = data.license or DEFAULT_LICENSE
    if not data.eval_results and metrics:
        clip = Path(config.source.name).stem if config.source and config.source.name else "video"
        data.model_name = data.model_name or model_name or clip
        data.eval_results = [
            EvalResult(
                task_type="video-reconstruction",
                task_name="Video reconstruction",
                dataset_type=clip,
                dataset_name=clip,
                metric_type=key,
                metric_value=round(value, metric_digits(key)),
            )
            for key, value in metrics.items()
        ]
    return card.content


@dataclass
class CardSummary:
    library_name: str | None
    license: str | None
    tags: list[str]
    metrics: list[tuple[str, float, str]]  # (metric type, value, dataset)


def read_card(readme: str | os.PathLike[str]) -> CardSummary | None:
    """The metadata of a README.md model card; None when there is no card or no metadata block."""
    from huggingface_hub import ModelCard

    readme = Path(readme)
    if not readme.is_file():
        return None
    try:
        card = ModelCard(readme.read_text(encoding="utf-8"), ignore_metadata_errors=True)
    except Exception as exc:
        raise ConfigError(f"{readme}: unreadable model card metadata ({one_line(exc)})") from None
    data = card.data
    metrics = [(r.metric_type, r.metric_value, r.dataset_name) for r in (data.eval_results or [])]
    return CardSummary(data.library_name, data.license, list(data.tags or []), metrics)


_COMMAND_LINE = re.compile(r"^(vinr (?:decode|eval)) (?!stvsr\b|-)(\"[^\"\n]*\"|'[^'\n]*'|\S+)", re.M)
_STVSR_MODEL = re.compile(r"^(vinr (?:eval )?stvsr .*--model )(\"[^\"\n]*\"|'[^'\n]*'|\S+)", re.M)


def retarget_commands(card: str, model: str) -> str:
    """Point the card's ``vinr decode X`` / ``vinr eval X`` / ``vinr stvsr ... --model X`` lines at ``model``
    (the pushed repo id).

    A card written by `vinr fit` names the local folder it was written to (or, in the embedded zoo, the zoo
    name); on the Hub the same lines must name the repo so they can be copied and run.
    """
    card = _COMMAND_LINE.sub(lambda m: f"{m.group(1)} {shlex.quote(model)}", card)
    return _STVSR_MODEL.sub(lambda m: f"{m.group(1)}{shlex.quote(model)}", card)


def card_for_push(readme: Path | None, config: ModelConfig, repo_id: str, revision: str | None = None) -> str:
    """The README.md a push uploads: `render_card`, with its commands pointed at the pushed repo."""
    card = render_card(readme, config, model_name=repo_id.split("/", 1)[-1])
    branch = revision or "main"
    return retarget_commands(card, repo_id if branch == "main" else f"{repo_id}@{branch}")
