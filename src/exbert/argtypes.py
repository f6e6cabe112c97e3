"""argparse value types shared by the ``exbert`` subcommands."""

from __future__ import annotations

import argparse


def int_list(value: str) -> list[int]:
    """``"2,5"`` -> ``[2, 5]``."""
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {value!r}"
        ) from None


def float_list(value: str) -> list[float]:
    """``"2,1.5"`` -> ``[2.0, 1.5]``."""
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {value!r}"
        ) from None
