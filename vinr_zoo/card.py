"""Model cards: ``README.md`` with YAML front matter the Hub renders (``model-index`` metrics)."""

from __future__ import annotations

import shlex
from pathlib import Path

from vinr_zoo._atomic import atomic_path
from vinr_zoo.config import SineMLPConfig, finite_number

LIBRARY_NAME = "vinr-zoo"
TAGS = ["vinr-zoo", "implicit-neural-representation", "siren", "video"]
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
    return {metric: float(training[key]) for key, metric in TRAINING_METRICS.items() if finite_number(training.get(key))}


def render_model_card(config: SineMLPConfig, metrics: dict[str, float], *, license: str = "other",
                      model_name: str | None = None, source_note: str | None = None,
                      eval_command: str | None = None, model_ref: str = "MODEL") -> str:  # fmt: skip
    """The card's text: YAML metadata (via huggingface_hub's ModelCardData) and a plain body.

    ``source_note`` is a sentence about the source clip (origin, licence); ``eval_command`` the `vinr eval`
    line that reproduces ``metrics``; ``model_ref`` what to pass to `vinr decode` (a folder, zoo name or repo id).
    """
    from huggingface_hub import EvalResult, ModelCardData

    src = config.source
    dataset = Path(src.name).stem if src and src.name else "video"
    name = model_name or f"sine-mlp-{config.hidden_features}x{config.hidden_layers}-{dataset}"
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
        library_name=LIBRARY_NAME, license=license, tags=list(TAGS), model_name=name,
        eval_results=results or None,
    )  # fmt: skip
    t = config.training
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        f"# {name}",
        "",
        f"A sine MLP (SIREN) that stores the video `{dataset}` as a function (x, y, t) → RGB: "
        f"{config.hidden_layers} sine layers of {config.hidden_features} features, "
        f"{config.num_params:,} parameters, ω0 = {config.first_omega_0:g} on x, y and hidden layers, "
        f"{config.time_omega_0:g} on t.",
        "",
    ]
    if src is not None:
        lines += [f"Source: {src.width}x{src.height}, {src.frames} frames at {src.fps:.3f} fps (sha256 `{src.sha256[:16]}…`).", ""]
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
    if source_note:
        lines += [source_note, ""]
    if t:
        lines += [
            "## Training",
            "",
            f"{t.get('steps', '?')} steps in {t.get('wall_time_s', '?')} s on {t.get('device', '?')}, "
            f"losses: {', '.join(t.get('losses', []))}, batch {t.get('batch_size', '?')} pixels, peak lr {t.get('lr', '?')}.",
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


def write_model_card(directory: str | Path, config: SineMLPConfig, metrics: dict[str, float], **kwargs) -> Path:
    path = Path(directory) / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text(render_model_card(config, metrics, **kwargs), encoding="utf-8")
    return path
