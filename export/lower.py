"""Lower the encoder to ExecuTorch: torch.export, then the XNNPACK delegate, then `.pte` bytes.

A batch-1 example fixes the batch size, which is the fastest program for per-keyframe use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def lower_to_pte(module: torch.nn.Module, example: torch.Tensor) -> bytes:
    """(1, 3, px, px) example -> the `.pte` program of `module` with every op the XNNPACK
    partitioner accepts delegated to XNNPACK (fp32, or int8 for a PT2E-quantized module)."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        program = torch.export.export(module, (example,))
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    delegated = _count_delegates(edge.exported_program().graph_module)
    if delegated != 1:  # a split graph runs pieces outside XNNPACK: slower, and worth knowing
        log.warning("the encoder lowered to %d XNNPACK pieces, expected 1", delegated)
    return bytes(edge.to_executorch().buffer)


def _count_delegates(graph_module: torch.fx.GraphModule) -> int:
    return sum(1 for n in graph_module.graph.nodes
               if n.op == "call_function" and "executorch_call_delegate" in str(n.target))
