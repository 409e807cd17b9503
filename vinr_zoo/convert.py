"""`export_model`: what ``vinr export`` does — resolve a MODEL, write model.onnx (validated), optionally build
a TensorRT engine from it. The exporters themselves (`vinr_zoo.export`) never resolve names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vinr_zoo.contract import ONNX_NAME, TRT_PROFILE, TRT_WORKSPACE_MIB
from vinr_zoo.errors import OptionError
from vinr_zoo.export.onnx import ExportResult, check_opset, export_onnx
from vinr_zoo.export.trt import EngineExport, check_onnx_is_current, export_engine, trt_export_target
from vinr_zoo.sources import resolve_source


@dataclass
class ExportOptions:
    """Where and how to export. ``output`` defaults to the model directory itself."""

    output: str | os.PathLike[str] | None = None
    opset: int | None = None
    fp16: bool = False
    validate: bool = True
    atol: float | None = None
    atol_fp16: float | None = None
    overwrite: bool = False
    # TensorRT: build an engine for this GPU from model.onnx.
    trt: bool = False
    min_batch: int = TRT_PROFILE[0]
    opt_batch: int = TRT_PROFILE[1]
    max_batch: int = TRT_PROFILE[2]
    workspace_mib: int = TRT_WORKSPACE_MIB
    timing_cache: str | os.PathLike[str] | None = None


@dataclass
class ExportSummary:
    output: Path
    onnx: ExportResult | None = None  # None when an existing model.onnx was reused for the engine
    reused_onnx: Path | None = None
    engine: EngineExport | None = None


def export_model(model, options: ExportOptions | None = None) -> ExportSummary:
    """Export ``model`` (a model directory, zoo name, Hub id or loaded model) as ``options`` say.

    With ``trt``, every TensorRT check (package, GPU, profile, existing engine) runs before anything is
    written; an existing model.onnx from this very config is reused for the engine unless ``overwrite``.
    """
    options = options or ExportOptions()
    source = resolve_source(model)
    output = options.output if options.output is not None else source.folder
    if output is None:  # a zoo model or a Hub cache is never written into
        raise OptionError("output", f"is needed: {source.location} is not a model directory of yours to write into")
    output = Path(output)
    precision = "fp16" if options.fp16 else "fp32"
    target = None
    if options.trt and options.opset is not None:
        check_opset(options.opset, for_tensorrt=True)
    if options.trt:
        batches = (options.min_batch, options.opt_batch, options.max_batch)
        target = trt_export_target(output, precision, batches, options.workspace_mib, options.overwrite)
    torch_model = source.require_model()
    summary = ExportSummary(output)
    onnx_path = output / ONNX_NAME
    if options.trt and not options.overwrite and onnx_path.is_file():
        check_onnx_is_current(onnx_path, torch_model.config)
        summary.reused_onnx = onnx_path
    else:
        summary.onnx = export_onnx(
            torch_model,
            output,
            opset=options.opset,
            fp16=options.fp16,
            validate=options.validate,
            atol=options.atol,
            atol_fp16=options.atol_fp16,
            overwrite=options.overwrite,
        )
    if target is not None:
        summary.engine = export_engine(
            onnx_path,
            output,
            precision=target.precision,
            profile=target.profile,
            workspace_mib=options.workspace_mib,
            timing_cache=options.timing_cache,
            overwrite=options.overwrite,
        )
    return summary
