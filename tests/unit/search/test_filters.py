"""exbert.search.filters: the forms of a token filter and their errors."""

from __future__ import annotations

import pytest

from exbert.errors import InvalidRequest
from exbert.search.filters import parse_filters


def test_filter_forms_are_equivalent() -> None:
    a = parse_filters({"pos": "VERB", "is_stop": False})
    b = parse_filters(["is_stop=false", "pos=VERB"])
    c = parse_filters({"upos": ["VERB"], "stop": "no"})
    assert a == b == c
    assert [str(x) for x in a] == ["is_stop=false", "pos=VERB"]
    neg = parse_filters(["dep!=punct,det"])
    assert neg[0].negate and neg[0].values == ("punct", "det")
    assert parse_filters(None) == [] and str(parse_filters("ent=PERSON")[0]) == "ent_type=PERSON"


@pytest.mark.parametrize("bad", [["pos"], {"colour": "red"}, ["is_stop=maybe"], 3,
                                 ["pos=VERB", "pos=NOUN"], {"pos": []}])
def test_bad_filters(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_filters(bad)
