"""A fake ``tensorrt`` module for the tests: records the builder calls and runs the engine's graph in numpy.

TensorRT and a CUDA GPU are absent on the development machines. `make_fake_trt` returns a module object
(named ``tensorrt``, installed with ``monkeypatch.setitem(sys.modules, "tensorrt", ...)``) with the part of
the TensorRT 10 Python API that vinr_zoo/export/trt.py and vinr_zoo/runtimes/trt.py call: a builder whose
"engine" is the ONNX graph plus a JSON header (profile, fp16 flag, the nodes pinned to fp32), a runtime that
runs it in numpy (fp16 for every node the build did not pin to fp32), and `fake_gpu` for torch.cuda. This
file is named fake_tensorrt so that it never shadows the real package. The ``fake_trt`` fixture
(tests/conftest.py) installs both.
"""

from __future__ import annotations

import ctypes
import enum
import json
import types

import numpy as np
import torch

FAKE_GPU_NAME = "Fake GPU 80GB HBM3"
FAKE_GPU_CAPABILITY = (9, 0)
FAKE_VERSION = "10.3.0"


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class LayerType(enum.Enum):
    CONSTANT = "constant"
    MATRIX_MULTIPLY = "matmul"
    SHUFFLE = "shuffle"
    ELEMENTWISE = "elementwise"
    UNARY = "unary"


class FakeLayer:
    def __init__(self, name, type_, node):
        self.name, self.type, self.node, self.num_outputs = name, type_, node, 1
        self.precision_set = None
        self.output_types = {}

    @property
    def precision(self):
        return self.precision_set

    @precision.setter
    def precision(self, value):
        self.precision_set = value

    def set_output_type(self, index, dtype):
        self.output_types[index] = dtype


class FakeNetwork:
    def __init__(self, flags):
        self.flags = flags
        self.layers: list[FakeLayer] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.onnx = b""

    num_layers = property(lambda self: len(self.layers))
    num_inputs = property(lambda self: len(self.inputs))
    num_outputs = property(lambda self: len(self.outputs))

    def get_layer(self, i):
        return self.layers[i]

    def get_input(self, i):
        return types.SimpleNamespace(name=self.inputs[i])

    def get_output(self, i):
        return types.SimpleNamespace(name=self.outputs[i])


class FakeParser:
    """Turns our ONNX graph into layers the way TensorRT's parser does (constants and bias shuffles included)."""

    def __init__(self, network, logger):
        self.network, self.errors = network, []

    num_errors = property(lambda self: len(self.errors))

    def get_error(self, i):
        return types.SimpleNamespace(desc=lambda: self.errors[i])

    def parse(self, data):
        import onnx

        try:
            proto = onnx.load_from_string(data)
            assert proto.graph.node
        except Exception:
            self.errors.append("ModelImporter: failed to parse the protobuf")
            return False
        net = self.network
        net.onnx = data
        net.inputs = [i.name for i in proto.graph.input]
        net.outputs = [o.name for o in proto.graph.output]
        kinds = {
            "MatMul": [LayerType.CONSTANT, LayerType.MATRIX_MULTIPLY],
            "Add": [LayerType.CONSTANT, LayerType.SHUFFLE, LayerType.ELEMENTWISE],
            "Sin": [LayerType.UNARY],
        }
        for node in proto.graph.node:
            for k, kind in enumerate(kinds.get(node.op_type, [])):
                net.layers.append(FakeLayer(f"{node.name}.{k}", kind, node.name))
        return True


class FakeProfile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))


class FakeTimingCache:
    def __init__(self, data):
        self.data = bytes(data)

    def serialize(self):
        return memoryview(self.data + b"|build")


class FakeConfig:
    def __init__(self, record):
        self.record, self.flags, self.profiles, self.cache = (
            record,
            {"BuilderFlag.TF32"},
            [],
            None,
        )  # TF32: on by default
        self.cleared = set()
        self.pools = {}

    def set_memory_pool_limit(self, pool, size):
        self.pools[pool] = size

    def set_flag(self, flag):
        self.flags.add(flag)

    def clear_flag(self, flag):
        self.cleared.add(flag)
        self.flags.discard(flag)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data):
        self.record["timing_cache_loaded"].append(bytes(data))
        return FakeTimingCache(data)

    def set_timing_cache(self, cache, ignore_mismatch):
        assert ignore_mismatch is False
        if cache.data.startswith(b"OTHER-GPU"):
            return False
        self.cache = cache
        return True

    def get_timing_cache(self):
        return self.cache


class FakeBuilder:
    platform_has_fast_fp16 = True

    def __init__(self, module, logger):
        self.module, self.logger = module, logger

    def create_network(self, flags):
        return FakeNetwork(flags)

    def create_builder_config(self):
        return FakeConfig(self.module.record)

    def create_optimization_profile(self):
        return FakeProfile()

    def build_serialized_network(self, network, config):
        rec = self.module.record
        rec["builds"].append({"network": network, "config": config})
        if self.module.fail_build:
            self.logger.log(Severity.ERROR, "Error Code 2: out of memory while building\nmore details")
            return None
        (profile,) = config.profiles
        fp16 = self.module.BuilderFlag.FP16 in config.flags
        pinned = [layer.node for layer in network.layers if layer.precision_set is self.module.float32]
        header = {"profile": profile.shapes[network.inputs[0]], "fp16": fp16, "fp32_nodes": sorted(set(pinned))}
        return memoryview(b"FAKEENGINE" + json.dumps(header).encode() + b"\n" + network.onnx)


class FakeContext:
    def __init__(self, engine):
        self.engine, self.shape, self.addresses, self.calls = engine, None, {}, []

    def set_input_shape(self, name, shape):
        lo, _, hi = self.engine.header["profile"]
        if not lo[0] <= shape[0] <= hi[0]:
            return False
        self.shape = tuple(shape)
        self.calls.append(self.shape)
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def execute_async_v3(self, stream):
        rows = self.shape[0]
        x = np.frombuffer((ctypes.c_float * (rows * 3)).from_address(self.addresses["coords"]), np.float32)
        y = np.frombuffer((ctypes.c_float * (rows * 3)).from_address(self.addresses["rgb"]), np.float32)
        y[:] = self.engine.run(x.reshape(rows, 3).copy()).reshape(-1)
        return True


class FakeEngine:
    """Runs the ONNX graph in numpy: fp32, or fp16 for every node the build did not pin to fp32."""

    def __init__(self, module, plan):
        import onnx
        from onnx import numpy_helper

        head, _, data = plan[len(b"FAKEENGINE") :].partition(b"\n")
        self.module, self.header = module, json.loads(head)
        proto = onnx.load_from_string(data)
        self.nodes = list(proto.graph.node)
        self.weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
        self.num_io_tensors = 2
        self.contexts = []

    def get_tensor_name(self, i):
        return ["coords", "rgb"][i]

    def get_tensor_mode(self, name):
        return self.module.TensorIOMode.INPUT if name == "coords" else self.module.TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name):
        return self.module.float32

    def get_tensor_profile_shape(self, name, index):
        assert index == 0
        return [list(s) for s in self.header["profile"]]

    def create_execution_context(self):
        self.contexts.append(FakeContext(self))
        return self.contexts[-1]

    def run(self, x):
        env = {"coords": x}
        for node in self.nodes:
            low = self.header["fp16"] and node.name not in self.header["fp32_nodes"]
            dt = np.float16 if low else np.float32
            args = [(env[i] if i in env else self.weights[i]).astype(dt) for i in node.input]
            op = {"MatMul": lambda a, b: a @ b, "Add": lambda a, b: a + b, "Sin": np.sin}[node.op_type]
            env[node.output[0]] = op(*args).astype(np.float32)
        return env["rgb"]


class FakeRuntime:
    def __init__(self, module, logger):
        self.module, self.logger = module, logger

    def deserialize_cuda_engine(self, plan):
        if not bytes(plan).startswith(b"FAKEENGINE"):
            self.logger.log(Severity.ERROR, "Serialization assertion failed: magic tag does not match")
            return None
        self.module.record["engines"].append(FakeEngine(self.module, bytes(plan)))
        return self.module.record["engines"][-1]


def make_fake_trt(version: str = FAKE_VERSION) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.record = {"builds": [], "timing_cache_loaded": [], "engines": []}
    trt.fail_build = False

    class ILogger:
        Severity = Severity

        def __init__(self):
            pass

    trt.ILogger = ILogger
    trt.LayerType = LayerType
    trt.float32, trt.float16 = "DataType.FLOAT", "DataType.HALF"
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="MemoryPoolType.WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(
        FP16="BuilderFlag.FP16", OBEY_PRECISION_CONSTRAINTS="BuilderFlag.OBEY", TF32="BuilderFlag.TF32"
    )
    trt.TensorIOMode = types.SimpleNamespace(INPUT="TensorIOMode.INPUT", OUTPUT="TensorIOMode.OUTPUT")
    trt.Builder = lambda logger: FakeBuilder(trt, logger)
    trt.OnnxParser = FakeParser
    trt.Runtime = lambda logger: FakeRuntime(trt, logger)
    return trt


class _FakeCudaDevice:
    def __init__(self, device):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fake_gpu(monkeypatch, available: bool = True) -> None:
    """torch.cuda answers as on one Hopper GPU (or, ``available=False``, as on a machine without CUDA)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: FAKE_GPU_NAME)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: FAKE_GPU_CAPABILITY)
    monkeypatch.setattr(torch.cuda, "device", _FakeCudaDevice)
