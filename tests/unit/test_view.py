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


@given(st.integers(min_value=1, max_value=200), st.data())
def test_layer_and_hidden_state_index_round_trip(n_layers, data):
    """One numbering: layer i is hidden_states[i + 1]; negatives count from the end; the
    embeddings are hidden_states[0]."""
    layer = data.draw(st.integers(min_value=-n_layers, max_value=n_layers - 1))
    hidden = view.layer_to_hidden(layer, n_layers)
    resolved = layer + n_layers if layer < 0 else layer
    assert hidden == resolved + 1
    assert view.hidden_to_layer(hidden) == resolved
    assert view.layer_to_hidden(view.EMBEDDINGS, n_layers) == 0
    assert view.hidden_to_layer(0) == view.EMBEDDINGS


def test_layer_mapping_names_the_valid_range():
    for bad in (6, 9, -7):
        with pytest.raises(InvalidRequest, match=r"0\.\.5 \(or -6\.\.-1 from the end\)"):
            view.layer_to_hidden(bad, 6)
    with pytest.raises(InvalidRequest, match="layer must be"):
        view.layer_to_hidden("3", 6)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="embeddings have no attention"):
        view.check_layer("embeddings", 6)
    with pytest.raises(InvalidRequest):
        view.hidden_to_layer(-1)


def test_parse_layer_and_names():
    assert view.parse_layer("3") == 3 and view.parse_layer(" -1 ") == -1
    assert view.parse_layer("Embeddings") == view.EMBEDDINGS
    assert view.parse_layer(2) == 2
    with pytest.raises(InvalidRequest, match="integer or 'embeddings'"):
        view.parse_layer("block 3")
    with pytest.raises(InvalidRequest, match="an integer,"):
        view.parse_layer("embeddings", embeddings=False)
    assert view.layer_name(3) == "layer 3" and view.layer_name("embeddings") == "embeddings"
