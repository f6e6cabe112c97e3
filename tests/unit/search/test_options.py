"""SearchOptions: one validation of what a search asks, with the limits of exbert.view."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exbert.errors import InvalidRequest
from exbert.search.options import SearchOptions
from exbert.search.results import MaxAttention
from exbert.view import DEFAULT_K, DEFAULT_WINDOW, MAX_K, MAX_WINDOW


def test_defaults_come_from_the_view_limits() -> None:
    o = SearchOptions.of(12)
    assert (o.k, o.window, o.heads, o.exact, o.conditions) == (DEFAULT_K, DEFAULT_WINDOW, None,
                                                               True, ())


@pytest.mark.parametrize("k", [0, MAX_K + 1, True, 2.5, "3"])
def test_k_outside_its_limits_is_refused(k) -> None:
    with pytest.raises(InvalidRequest, match="k must"):
        SearchOptions.of(12, k=k)


@pytest.mark.parametrize("window", [-1, MAX_WINDOW + 1, False])
def test_window_outside_its_limits_is_refused(window) -> None:
    with pytest.raises(InvalidRequest, match="window"):
        SearchOptions.of(12, window=window)


@given(st.lists(st.integers(0, 11), min_size=1, max_size=20))
def test_heads_are_sorted_and_distinct(heads) -> None:
    assert SearchOptions.of(12, heads=heads).heads == tuple(sorted(set(heads)))


@pytest.mark.parametrize("heads", [[12], [-1], []])
def test_heads_outside_the_model_are_refused(heads) -> None:
    with pytest.raises(InvalidRequest):
        SearchOptions.of(12, heads=heads)


def test_filters_are_parsed_once() -> None:
    o = SearchOptions.of(12, filters={"pos": ["NOUN", "PROPN"], "dep!": "punct"})
    assert sorted(str(c) for c in o.conditions) == ["dep!=punct", "pos=NOUN,PROPN"]


def test_max_attention_names_its_inward_position_in_json() -> None:
    assert MaxAttention(3, 0.5, 1, 0.25).to_dict() == {"out": 3, "out_weight": 0.5, "in": 1,
                                                       "in_weight": 0.25}
