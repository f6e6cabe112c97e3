"""The binary EXB1 frame (docs/API.md): ``EXB1``, u32 header length, JSON header, zero padding
to a multiple of 8, then little-endian float16 data in C order. float16 halves the bytes of
float32 and keeps the precision a picture of attention needs (< 0.05% relative error).

Two uses of one layout:

- :func:`encode_array` / :func:`decode_array`: any array, the header's top level saying
  ``{"dtype": "float16", "shape": [...], "offset": N, ...}`` (the routes under
  ``/api/analyses/{id}/``: rows, windows, blocks, stats).
- :func:`encode_frame` / :func:`decode_frame`: an analysis, its header (tokens, predictions)
  with ``attention: {"dtype", "shape", "layers", "offset", "mode"}`` and the attention of the
  chosen layers ``[layers, heads, T, T]`` after it. A lazy analysis (no attention tensor) sends
  the header only: ``shape`` is the whole ``[L, H, T, T]``, ``layers`` is ``[]``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np

    from exbert.analysis import Analysis

MAGIC = b"EXB1"
MEDIA_TYPE = "application/x-exbert-analysis"
ALIGN = 8


def chosen_layers(analysis: Analysis, layers: Sequence[int] | None) -> list[int]:
    """``layers`` sorted and deduplicated; all layers when ``None``."""
    if layers is None:
        return list(range(analysis.n_layers))
    return sorted(set(layers))


def header_with_attention(analysis: Analysis, chosen: list[int]) -> dict[str, Any]:
    """The analysis header with its ``attention`` entry: ``chosen`` layers of a full analysis;
    for a lazy one the whole shape, no layers (its attention comes from the routes)."""
    header = analysis.header()
    mode = analysis.mode
    heads, t = analysis.n_heads, analysis.n_tokens
    lazy = mode == "lazy"
    header["attention"] = {
        "dtype": "float16",
        "shape": [analysis.n_layers if lazy else len(chosen), heads, t, t],
        "layers": [] if lazy else chosen,
        "offset": 0,
        "mode": mode,
    }
    return header


def _pack(header: dict[str, Any], place: Callable[[int], None], shape: Sequence[int],
          nbytes: int) -> tuple[bytearray, Any]:
    """A buffer with magic, header and padding written, room for ``nbytes`` of data, and a
    float16 view of that room shaped ``shape``. ``place(offset)`` stores the data offset in
    the header (its digits change the header's length: iterate to the fixed point)."""
    import numpy as np

    offset = 0
    while True:
        place(offset)
        raw = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
        needed = -(-(8 + len(raw)) // ALIGN) * ALIGN
        if needed == offset:
            break
        offset = needed
    buf = bytearray(offset + nbytes)
    buf[:4] = MAGIC
    buf[4:8] = struct.pack("<I", len(raw))
    buf[8 : 8 + len(raw)] = raw
    target = np.frombuffer(buf, dtype="<f2", offset=offset).reshape(tuple(shape))
    return buf, target


def _copy(target: Any, source: Any) -> None:
    """float32/float16 ``source`` into the float16 ``target``: torch converts much faster
    than numpy on subnormal-heavy attention."""
    import numpy as np
    import torch

    if target.size == 0:
        return
    src = torch.from_numpy(np.ascontiguousarray(source))
    torch.from_numpy(target).copy_(src)


def encode_frame(analysis: Analysis, layers: Sequence[int] | None = None,
                 extra: Mapping[str, Any] | None = None) -> memoryview:
    """The frame of ``analysis`` (the attention of ``layers``, all when None; none for a lazy
    analysis), built in one buffer; ``extra`` adds entries to the header (``analysis_id``)."""
    chosen = chosen_layers(analysis, layers)
    header = header_with_attention(analysis, chosen)
    header.update(extra or {})
    att = header["attention"]
    source = analysis.attentions if att["layers"] else None
    if source is not None and len(chosen) != source.shape[0]:
        source = source[chosen]
    shape = list(source.shape) if source is not None else [0]
    size = int(source.size) if source is not None else 0
    buf, target = _pack(header, lambda n: att.__setitem__("offset", n), shape, size * 2)
    if source is not None:
        _copy(target, source)
    return memoryview(buf)


def encode_array(array: np.ndarray, header: Mapping[str, Any] | None = None) -> memoryview:
    """``array`` (any shape, any float dtype) as a frame of float16: the header is ``header``
    plus ``dtype``, ``shape`` and ``offset``."""
    out: dict[str, Any] = dict(header or {})
    out.update(dtype="float16", shape=[int(n) for n in array.shape], offset=0)
    buf, target = _pack(out, lambda n: out.__setitem__("offset", n), array.shape,
                        int(array.size) * 2)
    _copy(target, array)
    return memoryview(buf)


def _split(frame: bytes | memoryview) -> tuple[bytes, dict[str, Any]]:
    frame = bytes(frame)
    if frame[:4] != MAGIC:
        raise ValueError("not an exbert frame")
    (n,) = struct.unpack("<I", frame[4:8])
    return frame, orjson.loads(frame[8 : 8 + n])


def decode_array(frame: bytes | memoryview) -> tuple[dict[str, Any], np.ndarray]:
    """Inverse of :func:`encode_array`: the header and a float16 array shaped
    ``header["shape"]``."""
    import numpy as np

    data, header = _split(frame)
    array = np.frombuffer(data, dtype="<f2", offset=header["offset"]).reshape(header["shape"])
    return header, array


def decode_frame(frame: bytes | memoryview) -> tuple[dict[str, Any], Any]:
    """Inverse of :func:`encode_frame` (for tests and Python clients): header and a float16
    numpy array shaped ``header["attention"]["shape"]`` (None for a lazy analysis: no
    attention in the frame)."""
    import numpy as np

    data, header = _split(frame)
    att = header["attention"]
    if att.get("mode") == "lazy":
        return header, None
    array = np.frombuffer(data, dtype="<f2", offset=att["offset"]).reshape(att["shape"])
    return header, array
