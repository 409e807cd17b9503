import numpy as np
import pytest
from clips import carphone_small, tiny_model_dir

from vinr_zoo.decode import decode, render, resolve_source, to_uint8
from vinr_zoo.errors import GridError, ModelLoadError
from vinr_zoo.fit import measure_psnr
from vinr_zoo.metrics import psnr
from vinr_zoo.models import SineMLP
from vinr_zoo.runtimes import backend_class
from vinr_zoo.video import read_video


def test_scale_one_render_matches_the_source_clip(tmp_path):
    d = tiny_model_dir()
    out = decode(d, tmp_path / "r.npy")
    assert (out.width, out.height, out.frames) == (88, 72, 8)
    frames = read_video(tmp_path / "r.npy").frames
    clip = carphone_small(8)
    score = psnr(frames / 255.0, clip.frames / 255.0)
    exact = measure_psnr(SineMLP.from_pretrained(d), clip)
    assert score > 20 and abs(score - exact) < 0.3  # 8-bit rounding costs little


def test_any_scale_output_shape_fps_and_frame_limit(tmp_path):
    d = tiny_model_dir()
    out = decode(d, tmp_path / "up.npy", scale_s=1.5, scale_t=2.5)
    assert (out.width, out.height, out.frames) == (132, 108, 18)
    assert out.fps == pytest.approx(30000 / 1001 * 2.5)
    assert read_video(tmp_path / "up.npy").frames.shape == (18, 108, 132, 3)
    out = decode(d, tmp_path / "few", size=(40, 30), frames=3)
    assert sorted(p.name for p in (tmp_path / "few").iterdir()) == [f"frame_{i:06d}.png" for i in range(3)]
    assert read_video(tmp_path / "few").frames.shape == (3, 30, 40, 3)


def test_written_mp4_has_the_frame_count_fps_and_timestamps_read_back_with_pyav(tmp_path):
    """`vinr decode --scale-t 2.5` of an 8-frame 29.97 fps model: 18 frames at 74.925 fps, frame j at j / fps."""
    from fractions import Fraction

    import av
    from typer.testing import CliRunner

    from vinr_zoo.cli import app

    d = tiny_model_dir()
    source_fps = SineMLP.from_pretrained(d).config.source.fps
    assert source_fps == pytest.approx(30000 / 1001)  # carphone is NTSC: 29.97 fps
    out = tmp_path / "up.mp4"
    res = CliRunner().invoke(app, ["decode", str(d), "-o", str(out), "--scale-t", "2.5", "-q"])
    assert res.exit_code == 0, res.output
    fps = Fraction(75000, 1001)  # 29.97 x 2.5 = 74.925
    frames = 18  # floor((8 - 1) * 2.5) + 1
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 88, 72)
        assert stream.average_rate == fps, stream.average_rate
        assert stream.frames == frames  # the container's own count
        decoded = list(container.decode(stream))
    assert len(decoded) == frames
    times = [f.pts * f.time_base for f in decoded]  # exact Fractions
    assert times == sorted(times) and times[0] == 0, times
    for j, t in enumerate(times):  # each frame at j / fps, within the container's clock resolution
        assert abs(t - j / fps) <= decoded[0].time_base, (j, t, j / fps)
    assert {f.to_ndarray(format="rgb24").shape for f in decoded} == {(72, 88, 3)}


def test_integer_scale_t_frames_equal_source_frame_renders(tmp_path):
    d = tiny_model_dir()
    decode(d, tmp_path / "a.npy")
    decode(d, tmp_path / "b.npy", scale_t=2)
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_array_equal(b[::2], a)


def test_batch_size_does_not_change_the_pixels():
    src = resolve_source(tiny_model_dir())
    from vinr_zoo.coords import SpaceTimeGrid

    grid = SpaceTimeGrid.build(88, 72, 8, scale_s=0.7, scale_t=1.3).head(3)
    with backend_class("torch")(src.model) as b:
        one = [to_uint8(f) for f in render(b, grid, batch=1000)]
        two = [to_uint8(f) for f in render(b, grid, batch=65536)]
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)


def test_decode_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist|not found"):
        decode(tmp_path / "missing", tmp_path / "x.npy")
    with pytest.raises(GridError, match="scale_s"):
        decode(tiny_model_dir(), tmp_path / "x.npy", scale_s=float("nan"))
    assert not (tmp_path / "x.npy").exists()


def _peak_rss_mb(tmp_path, *args) -> float:
    """Peak RSS (MB) of a fresh process running ``vinr decode carphone-tiny ARGS``."""
    import subprocess
    import sys

    code = (
        "import resource, runpy, sys\n"
        f"sys.argv = ['vinr', 'decode', 'carphone-tiny', '-q', '--overwrite', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('vinr_zoo.cli', run_name='__main__')\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def test_long_upscaled_decode_keeps_memory_bounded(tmp_path):
    # 4x in space and 20x in time: 141 frames of 352x288 = 14.3 M pixels. Holding the coordinates or the
    # float RGB of the whole render would take 172 MB each; streaming frame by frame needs a few MB.
    one = _peak_rss_mb(tmp_path, "-o", "one.mp4", "--scale-s", "4", "--frames", "1")
    long = _peak_rss_mb(tmp_path, "-o", "long.mp4", "--scale-s", "4", "--scale-t", "20")
    assert read_video(tmp_path / "long.mp4").frames.shape == (141, 288, 352, 3)
    assert long - one < 100, f"peak RSS grew from {one:.0f} MB (1 frame) to {long:.0f} MB (141 frames)"
