import json
import subprocess
import sys

import pytest
from clips import carphone_path, tiny_model_dir
from typer.testing import CliRunner

from vinr_zoo.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_the_product_commands():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("fit", "decode", "export", "parity", "pull", "push", "list", "info", "eval"):
        assert name in result.output


def test_fit_then_decode_through_the_cli(tmp_path):
    model_dir = tmp_path / "m"
    result = run(
        "fit",
        carphone_path(),
        "-o",
        model_dir,
        "--frames",
        3,
        "--size",
        "44x36",
        "--width",
        16,
        "--depth",
        2,
        "--steps",
        30,
        "--batch-size",
        2048,
        "--seed",
        1,
    )
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output and "dB" in result.output
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["hidden_features"] == 16 and cfg["source"]["width"] == 44 and cfg["source"]["frames"] == 3
    result = run("decode", model_dir, "-o", tmp_path / "out.mp4", "--scale-s", 2, "--scale-t", 2)
    assert result.exit_code == 0, result.output
    assert "88x72, 5 frames" in result.output
    assert (tmp_path / "out.mp4").stat().st_size > 0


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_bad_scales_are_one_line_and_nonzero(tmp_path, scale):
    result = run("decode", tiny_model_dir(), "-o", tmp_path / "o.npy", "--scale-s", scale)
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: --scale-s must be a finite number > 0")
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.npy").exists()


def test_bad_inputs_through_the_cli(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    cases = [
        (["fit", tmp_path / "missing.mp4", "-o", tmp_path / "a"], "does not exist"),
        (["fit", tmp_path / "notes.txt", "-o", tmp_path / "a"], "not a readable video"),
        (["fit", carphone_path(), "-o", tmp_path / "a", "--size", "12by10"], "WIDTHxHEIGHT"),
        (["decode", tmp_path / "nomodel", "-o", tmp_path / "x.npy"], "nomodel"),
        (["decode", tiny_model_dir(), "-o", tmp_path / "x.avi"], "cannot write"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "a").exists()


def test_export_through_the_cli_writes_model_onnx(tmp_path):
    out = tmp_path / "e"
    result = run("export", tiny_model_dir(), "-o", out)
    assert result.exit_code == 0, result.output
    onnx_file = out / "model.onnx"
    assert f"wrote {onnx_file} (fp32, opset " in result.output and "onnxruntime" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]  # no temporary files left beside it

    import onnx

    proto = onnx.load(str(onnx_file))
    assert [i.name for i in proto.graph.input] == ["coords"] and [o.name for o in proto.graph.output] == ["rgb"]


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "o.npy"
    assert run("decode", tiny_model_dir(), "-o", target, "--frames", 1).exit_code == 0
    result = run("decode", tiny_model_dir(), "-o", target, "--frames", 1)
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert run("decode", tiny_model_dir(), "-o", target, "--frames", 2, "--overwrite").exit_code == 0


def test_console_script_entry_point_runs_as_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", "decode", str(tmp_path / "none"), "-o", str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(tmp_path / "none") in lines[0]
    assert "Traceback" not in proc.stderr


def test_every_flag_table_names_real_options_of_its_command():
    """The field -> flag tables that word library errors for the CLI point at options the command has."""
    import typer.main

    from vinr_zoo.cli import evaluate, fit, models, render

    group = typer.main.get_command(app)
    tables = {
        "fit": fit.FIT_FLAGS,
        "stvsr": fit.FIT_FLAGS,
        "export": render.EXPORT_FLAGS,
        "parity": render.PARITY_FLAGS,
        "push": models.PUSH_FLAGS,
        "pull": models.PULL_FLAGS,
    }
    assert evaluate  # imported for its commands
    for name, table in tables.items():
        options = {opt for p in group.commands[name].params for opt in getattr(p, "opts", [])}
        for field, flag in table.items():
            flags = flag.split("/")
            if name == "stvsr" and not set(flags) & options:
                continue  # fit's table serves stvsr too; stvsr has a subset of fit's options
            assert set(flags) <= options, f"{name}: {field} -> {flag}, but the command has no such option"


def test_eval_stvsr_spelling_with_options_before_the_word(tmp_path):
    result = CliRunner().invoke(app, ["eval", "-q", "stvsr", "sample:carphone", "--scale-s", "1", "--scale-t", "1"])
    assert result.exit_code == 1 and "nothing to hold out" in result.output, result.output
