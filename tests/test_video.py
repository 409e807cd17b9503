import numpy as np
import pytest
from clips import carphone_path

from vinr_zoo.errors import OutputExistsError, VideoError
from vinr_zoo.metrics import psnr
from vinr_zoo.video import VideoWriter, parse_size, read_video, write_video


def test_read_real_clip_with_frames_start_and_area_resize():
    v = read_video(carphone_path(), frames=6, start=2)
    assert (v.num_frames, v.height, v.width) == (6, 144, 176)
    assert v.fps == pytest.approx(30000 / 1001)
    assert len(v.sha256) == 64
    full = read_video(carphone_path(), frames=8)
    np.testing.assert_array_equal(v.frames[0], full.frames[2])
    small = read_video(carphone_path(), frames=2, size=(88, 72))
    assert small.frames.shape == (2, 72, 88, 3)
    # area downsampling = mean of each 2x2 block
    block = full.frames[0, :2, :2].astype(np.float64).mean(axis=(0, 1))
    np.testing.assert_allclose(small.frames[0, 0, 0], block, atol=0.51)


def test_mp4_round_trip_keeps_fps_and_quality(tmp_path):
    v = read_video(carphone_path(), frames=10)
    out = write_video(tmp_path / "c.mp4", v.frames, v.fps)
    back = read_video(out)
    assert back.frames.shape == v.frames.shape
    assert back.fps == pytest.approx(v.fps, rel=1e-3)
    assert psnr(back.frames / 255.0, v.frames / 255.0) > 38


@pytest.mark.parametrize("suffix", [".npy", "frames_dir"])
def test_lossless_outputs_round_trip_exactly(tmp_path, suffix):
    v = read_video(carphone_path(), frames=3, size=(40, 30))
    target = tmp_path / ("out.npy" if suffix == ".npy" else suffix)
    write_video(target, v.frames, v.fps)
    back = read_video(target)
    np.testing.assert_array_equal(back.frames, v.frames)
    if suffix == "frames_dir":
        assert sorted(p.name for p in target.iterdir())[:2] == ["frame_000000.png", "frame_000001.png"]


def test_odd_sizes_are_padded_for_h264(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (2, 15, 21, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "odd.mp4", width=21, height=15, fps=10) as w:
        for f in frames:
            w.write(f)
    assert w.padded
    assert read_video(tmp_path / "odd.mp4").frames.shape == (2, 16, 22, 3)


def test_existing_output_needs_overwrite(tmp_path):
    frames = np.zeros((1, 4, 4, 3), np.uint8)
    write_video(tmp_path / "a.npy", frames, 25)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_video(tmp_path / "a.npy", frames, 25)
    write_video(tmp_path / "a.npy", frames + 1, 25, overwrite=True)
    assert read_video(tmp_path / "a.npy").frames[0, 0, 0, 0] == 1


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", width=8, height=8, fps=25) as w:
            w.write(np.zeros((8, 8, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "notes.txt").write_text("not a video at all")
    with pytest.raises(VideoError, match="not a readable video"):
        read_video(tmp_path / "notes.txt")
    data = carphone_path().read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:2000])
    with pytest.raises(VideoError):
        read_video(tmp_path / "cut.mp4")
    np.save(tmp_path / "bad.npy", np.zeros((2, 4, 4), np.float32))
    with pytest.raises(VideoError, match="uint8 array of shape T x H x W x 3"):
        read_video(tmp_path / "bad.npy")
    np.save(tmp_path / "tiny.npy", np.zeros((2, 1, 1, 3), np.uint8))
    with pytest.raises(VideoError, match="at least 2x2"):
        read_video(tmp_path / "tiny.npy")
    with pytest.raises(VideoError, match="no frames from frame 500"):
        read_video(carphone_path(), start=500)
    with pytest.raises(VideoError, match="unknown sample clip"):
        from vinr_zoo.video import resolve_video_path

        resolve_video_path("sample:nope")


@pytest.mark.parametrize("text", ["176", "axb", "0x10", "10x", "10x10x3"])
def test_malformed_size(text):
    with pytest.raises(VideoError, match="size"):
        parse_size(text)
