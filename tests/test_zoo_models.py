"""Every embedded zoo model loads, decodes on torch and ONNX Runtime, and matches its registry entry."""

import numpy as np
import pytest

from vinr_zoo import zoo
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import open_backend, render, resolve_source, to_uint8

ENTRIES = zoo.list_zoo()


def test_the_zoo_holds_real_models_of_several_sizes():
    names = {e.name for e in ENTRIES}
    assert {"carphone-w128", "carphone-w256", "bikes-w256", "bigbuckbunny-w256"} <= names
    total = sum(e.size_bytes for e in ENTRIES)
    assert total < 30 * 2**20  # "a few tens of MB at most"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_zoo_model_decodes_identically_on_torch_and_ort(entry):
    src = resolve_source(entry.name)
    assert src.onnx_path is not None or entry.name == "carphone-tiny"
    s = src.config.source
    grid = SpaceTimeGrid.build(s.width, s.height, s.frames, scale_s=0.5, scale_t=1.5).head(2)
    frames = {}
    for runtime in ("torch", "ort"):
        with open_backend(src, runtime) as backend:
            frames[runtime] = np.stack([to_uint8(f) for f in render(backend, grid)])
    same = np.mean(frames["torch"] == frames["ort"])
    assert same >= 0.999, f"{entry.name}: {same:.5f} of 8-bit values agree"
    assert frames["torch"].std() > 5  # a real picture, not a constant
