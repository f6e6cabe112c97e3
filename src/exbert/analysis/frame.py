"""The binary analysis frame (docs/API.md): ``EXB1``, header length, JSON header, padding,
float16 attention [layers, heads, T, T]. float16 halves the bytes of float32 and keeps the
precision a picture of attention needs (< 0.05% relative error)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from exbert.analysis import Analysis

MAGIC = b"EXB1"
MEDIA_TYPE = "application/x-exbert-analysis"
ALIGN = 8


def chosen_layers(analysis: Analysis, layers: Sequence[int] | None) -> list[int]:
    """``layers`` sorted and deduplicated; all layers when ``None``."""
    if layers is None:
        return list(range(analysis.attentions.shape[0]))
    return sorted(set(layers))


def header_with_attention(analysis: Analysis, chosen: list[int]) -> dict[str, Any]:
    header = analysis.header()
    heads, t = analysis.attentions.shape[1], analysis.attentions.shape[2]
    header["attention"] = {
        "dtype": "float16",
        "shape": [len(chosen), heads, t, t],
        "layers": chosen,
        "offset": 0,
    }
    return header


def encode_frame(analysis: Analysis, layers: Sequence[int] | None = None) -> memoryview:
    """The frame, built in one buffer: the float32 -> float16 conversion writes straight into
    it (torch converts much faster than numpy on subnormal-heavy attention)."""
    import numpy as np
    import torch

    chosen = chosen_layers(analysis, layers)
    header = header_with_attention(analysis, chosen)
    # the offset depends on the header length, which depends on the offset's digits: iterate
    offset = 0
    while True:
        header["attention"]["offset"] = offset
        raw = orjson.dumps(header)
        needed = -(-(8 + len(raw)) // ALIGN) * ALIGN
        if needed == offset:
            break
        offset = needed
    source = torch.from_numpy(analysis.attentions)
    if len(chosen) != source.shape[0]:
        source = source[chosen]
    buf = bytearray(offset + source.numel() * 2)
    buf[:4] = MAGIC
    buf[4:8] = struct.pack("<I", len(raw))
    buf[8 : 8 + len(raw)] = raw
    target = np.frombuffer(buf, dtype="<f2", offset=offset).reshape(tuple(source.shape))
    torch.from_numpy(target).copy_(source)
    return memoryview(buf)


def decode_frame(frame: bytes | memoryview) -> tuple[dict[str, Any], Any]:
    """Inverse of :func:`encode_frame` (for tests and Python clients): header and a float16
    numpy array shaped ``header["attention"]["shape"]``."""
    import numpy as np

    frame = bytes(frame)
    if frame[:4] != MAGIC:
        raise ValueError("not an exbert analysis frame")
    (n,) = struct.unpack("<I", frame[4:8])
    header = orjson.loads(frame[8 : 8 + n])
    att = header["attention"]
    data = np.frombuffer(frame, dtype="<f2", offset=att["offset"]).reshape(att["shape"])
    return header, data
