"""exbert.view: the limits, the list parsers, the view spec and the layer conventions."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exbert import view
from exbert.errors import InvalidRequest


def test_limits():
    for limit in (view.MAX_TOP_K, view.MAX_K, view.MAX_WINDOW):
        assert isinstance(limit, int) and limit > 0
    assert view.DEFAULT_K <= view.MAX_K and view.DEFAULT_K_SHOWN <= view.DEFAULT_K
    assert 0 <= view.DEFAULT_WINDOW <= view.MAX_WINDOW
    assert 0 <= view.DEFAULT_TOP_K <= view.MAX_TOP_K
    assert view.check_threshold(view.DEFAULT_THRESHOLD) == view.DEFAULT_THRESHOLD


def test_importing_view_is_light():
    code = "import sys, exbert.view; print('torch' in sys.modules or 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("value, expected", [
    ("2,5", [2, 5]), (" 2, 5 ,", [2, 5]), ("-1", [-1]), ([3, 0], [3, 0]), ((), []),
    (None, None), ("", None), ("  ", None), ("all", None),
])
def test_parse_ints(value, expected):
    assert view.parse_ints(value, "heads") == expected


@pytest.mark.parametrize("value", ["a,b", "1.5", "1;2", ["x"], [None]])
def test_parse_ints_refuses_with_the_name(value):
    with pytest.raises(InvalidRequest, match=r"^heads: expected comma-separated integers"):
        view.parse_ints(value, "heads")


def test_parse_floats():
    assert view.parse_floats("2,1.5", "weights") == [2.0, 1.5]
    assert view.parse_floats([1, 2], "weights") == [1.0, 2.0]
    with pytest.raises(InvalidRequest, match=r"^weights: expected comma-separated numbers"):
        view.parse_floats("2,x", "weights")
    with pytest.raises(InvalidRequest, match="finite"):
        view.parse_floats("1,nan", "weights")
    with pytest.raises(InvalidRequest, match=r"^expected"):  # no name: no prefix
        view.parse_floats("x", "")


@given(st.lists(st.integers(min_value=-10**12, max_value=10**12), min_size=1))
def test_parse_ints_round_trip(values):
    text = ",".join(map(str, values))
    assert view.parse_ints(text, "x") == values
    assert view.parse_ints(text.replace(",", " , "), "x") == values
    assert view.parse_ints(values, "x") == values


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1))
def test_parse_floats_round_trip(values):
    assert view.parse_floats(",".join(map(repr, values)), "x") == values


def test_check_layer():
    assert view.check_layer(None, 6) == 0
    assert view.check_layer(-1, 6) == 5
    assert view.check_layer(-6, 6) == 0
    for bad in (6, 9, -7):
        with pytest.raises(InvalidRequest, match=f"layer {bad} is out of range.*0..5"):
            view.check_layer(bad, 6)


def test_view_spec():
    spec = view.view_spec(6, 12, layer=-1, heads="3,0,3", weights="2,1", threshold=0.5)
    assert (spec.layer, spec.heads, spec.weights, spec.threshold) == (5, [0, 3], [2.0, 1.0], 0.5)
    assert spec.to_state()["hideSpecial"] is True
    assert view.view_spec(2, 3, weights=[1, 1, 2]).heads == [0, 1, 2]
    with pytest.raises(InvalidRequest, match="weights"):
        view.view_spec(2, 4, heads=[0, 1, 2], weights=[1, 2])
    with pytest.raises(InvalidRequest, match=">= 0"):
        view.view_spec(2, 2, weights=[1, -1])
    with pytest.raises(InvalidRequest, match="at least one head"):
        view.check_heads([], 4)
    with pytest.raises(InvalidRequest, match="threshold"):
        view.view_spec(2, 3, threshold=1.5)


@given(st.integers(min_value=0, max_value=200))
def test_view_layer_shows_the_next_block(layer):
    block = view.view_layer_to_block(layer)
    assert block == layer + 1


def test_layer_mapping_refuses_what_it_cannot_map():
    with pytest.raises(InvalidRequest):
        view.view_layer_to_block(-1)
