"""A small ONNX graph builder for the families' `onnx_graph` hooks: named constants and single-output nodes.

Every node is named after its output, so a graph reads the same in Netron as in an error message.
"""

from __future__ import annotations

import numpy as np

from vinr_zoo.contract import require_onnx


class GraphBuilder:
    """Collects ``nodes`` and ``initializers`` (the two lists `VinrModel.onnx_graph` returns)."""

    def __init__(self) -> None:
        onnx = require_onnx()
        self.helper, self.numpy_helper, self.TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value, dtype=np.float32) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def columns(self, x: str, start: int, stop: int, out: str) -> str:
        """``x[:, start:stop]`` (a Slice on axis 1)."""
        ints = np.int64
        return self.node(
            "Slice",
            [
                x,
                self.const(f"{out}.starts", [start], ints),
                self.const(f"{out}.ends", [stop], ints),
                self.const(f"{out}.axes", [1], ints),
            ],
            out,
        )

    def lookup(self, table, index: str, out: str) -> str:
        """``table[index]`` for a float ``index`` holding whole numbers (Cast to int64, then Gather)."""
        idx = self.node("Cast", [index], f"{out}.index", to=self.TensorProto.INT64)
        return self.node("Gather", [self.const(f"{out}.table", table), idx], out, axis=0)

    def graph(self) -> tuple[list, list]:
        return self.nodes, self.initializers
