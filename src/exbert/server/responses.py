"""A JSON response serialised by orjson (numpy-aware, much faster than the standard library)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import Response


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # e.g. an integer over 64 bits quoted back in an error's details
            return json.dumps(content, default=str, ensure_ascii=False).encode()
