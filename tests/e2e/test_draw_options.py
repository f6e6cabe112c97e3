"""The drawing options in the browser app against a real `exbert serve`: word pieces joined to
their word ("##"), colour by head, hide the first token (SmolLM2's attention sink)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_attention_view import analyse, edges, tid

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-draw")
VIEW = tid("attention-view")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def pieces(page) -> list[dict]:
    """The left column's tokens: text, continuation mark, classes."""
    return page.eval_on_selector_all(
        f"{VIEW} .tok-col.left div.token:not([hidden])",
        """els => els.map(e => ({
            index: Number(e.dataset.testid.split('-').pop()),
            text: e.querySelector('.txt').textContent,
            mark: e.querySelector('.cont').textContent,
            continues: e.classList.contains('continues'),
            markShown: getComputedStyle(e.querySelector('.cont')).display !== 'none',
        }))""",
    )


def test_word_pieces_show_a_hash_mark_joined_to_their_word(page, server):
    analyse(page, server, "minilm-l6", "The moon eclipses the sun, predominates.")
    toks = pieces(page)
    texts = [t["text"] for t in toks]
    k = texts.index("eclipse")
    assert toks[k + 1]["text"] == "s" and toks[k + 1]["continues"]
    assert toks[k + 1]["mark"] == "##" and toks[k + 1]["markShown"]
    assert not toks[k]["continues"] and toks[k]["mark"] == ""
    marked = [t["text"] for t in toks if t["continues"]]
    assert marked == ["s", "dom", "inates"]  # pre ##dom ##inates
    title = page.get_attribute(tid(f"token-left-{toks[k + 1]['index']}"), "title") or ""
    assert '"s"' in title  # the token's own text is unchanged
    shot(page, "minilm-word-pieces")

    analyse(page, server, "smollm2-135m", "The sun predominates, and it eclipses.")
    toks = pieces(page)
    marked = [t["text"] for t in toks if t["continues"]]
    assert "inates" in marked
    for t, prev in zip(toks[1:], toks, strict=False):
        if t["continues"]:  # never after a space or punctuation
            assert not t["text"][:1].isspace() and prev["text"][-1:].isalnum()
    shot(page, "smollm2-word-pieces")


def head_strokes(page) -> dict[str, set[str]]:
    return page.eval_on_selector_all(
        f"{VIEW} path.edge",
        """els => {
            const out = {};
            for (const e of els) {
                const h = e.dataset.head ?? 'mix';
                (out[h] ??= new Set()).add(getComputedStyle(e).stroke);
            }
            return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]));
        }""",
    )


def test_colour_by_head_draws_each_head_in_its_own_colour(page, server):
    analyse(page, server, "minilm-l6", "The moon eclipses the sun because it is larger.")
    page.click(tid("head-0"))
    page.click(tid("head-3"), modifiers=["Shift"])
    page.click(tid("head-7"), modifiers=["Shift"])
    page.wait_for_function(f"document.querySelectorAll('{tid('head-7')}.selected').length === 1")
    assert set(head_strokes(page)) == {"mix"}
    assert not page.is_checked(tid("color-by-head"))
    page.check(tid("color-by-head"))
    page.wait_for_selector(f"{VIEW} path.edge[data-head]")
    strokes = head_strokes(page)
    assert set(strokes) == {"0", "3", "7"}
    assert all(len(v) == 1 for v in strokes.values()), strokes  # one colour per head
    colours = [v[0] for v in strokes.values()]
    assert len(set(colours)) == 3, colours  # distinct per head
    # each head's lines have its box's colour
    for hd, v in strokes.items():
        box = page.eval_on_selector(
            tid(f"head-{hd}"),
            "e => { const d = document.createElement('div'); d.style.color = "
            "e.style.getPropertyValue('--head-color'); document.body.append(d); "
            "const c = getComputedStyle(d).color; d.remove(); return c; }",
        )
        assert box == v[0]
        border = page.eval_on_selector(tid(f"head-{hd}"), "e => getComputedStyle(e).borderTopColor")
        assert border == v[0]
    # drawing order is stable: head by head
    order = [int(h) for h in page.eval_on_selector_all(
        f"{VIEW} path.edge", "els => els.map(e => e.dataset.head)")]
    assert order == sorted(order)
    shot(page, "minilm-colour-by-head")
    page.hover(tid("token-left-3"))
    shot(page, "minilm-colour-by-head-hover")
    page.mouse.move(5, 5)
    # all heads at once stays drawable, each head in its colour
    page.click(tid("all-heads-button"))
    page.wait_for_function(
        f"new Set([...document.querySelectorAll('{VIEW} path.edge')].map(e => e.dataset.head)).size === 12")
    shot(page, "minilm-colour-by-head-all")
    # the SVG export draws each head's lines in the same colour, with a key of the heads
    with page.expect_download() as dl:
        page.click(tid("export-svg-button"))
    svg = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "coloured by head" in svg and svg.count('class="heads-key"') == 1
    for hd, colour in page.eval_on_selector_all(
            f"{VIEW} path.edge", "els => els.map(e => [e.dataset.head, e.dataset.color])")[:50]:
        assert f'stroke="{colour}"' in svg and f'data-head="{hd}"' in svg
    assert ">##</tspan>" in svg
    shown = page.context.new_page()
    shown.set_content(f"<body style='margin:0'>{svg[svg.index('<svg'):]}</body>")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shown.screenshot(path=str(SHOTS / "export-colour-by-head.png"), full_page=True)
    shown.close()
    page.uncheck(tid("color-by-head"))
    page.wait_for_function(f"!document.querySelector('{VIEW} path.edge[data-head]')")
    assert set(head_strokes(page)) == {"mix"}


def test_hide_first_token_removes_smollm2_sink_edges(page, server):
    analyse(page, server, "smollm2-135m", "The cat sat on the mat because it was tired.")
    toggle = page.locator(tid("hide-first-token"))
    assert not toggle.is_checked()
    assert "attention sink" in (toggle.get_attribute("title") or "")
    page.select_option(tid("layer-select"), "10")
    page.wait_for_selector(f'{VIEW}[data-layer="10"]')
    before = edges(page)
    assert any(t == "0" for _, t, _ in before), "SmolLM2 attends to its first word (the sink)"
    shot(page, "smollm2-sink-shown")
    toggle.check()
    page.wait_for_function(
        f"!document.querySelector('{VIEW} path.edge[data-to=\"0\"], {VIEW} path.edge[data-from=\"0\"]')")
    after = edges(page)
    assert after and not any(f == "0" or t == "0" for f, t, _ in after)
    first = page.locator(tid("token-left-0"))
    assert first.is_visible() and "dropped" in (first.get_attribute("class") or "")
    # rows are renormalised over the rest: at threshold 1 each row's edges sum to 1
    page.eval_on_selector(
        tid("threshold-slider"),
        "e => { e.value = '1'; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function(
        f"[...document.querySelectorAll('{VIEW} path.edge')].length > {len(after)}")
    sums: dict[str, float] = {}
    for f, _, w in edges(page):
        sums[f] = sums.get(f, 0.0) + float(w)
    assert sums and all(abs(s - 1) < 0.01 for s in sums.values()), sums
    shot(page, "smollm2-sink-hidden")
    # with colour by head too
    page.check(tid("color-by-head"))
    page.wait_for_selector(f"{VIEW} path.edge[data-head]")
    assert not any(f == "0" or t == "0" for f, t, _ in edges(page))
    toggle.uncheck()
    page.wait_for_selector(f"{VIEW} path.edge[data-to='0']")


def test_drawing_options_live_in_the_url(page, server):
    """A shared link carries both options (byhead=1, hidefirst=1), and unticking one takes it
    out of the address again."""
    from test_attention_view import wait_ready

    page.goto(server + "/?model=smollm2-135m&text=The+cat+sat.&heads=0,3&byhead=1&hidefirst=1")
    wait_ready(page)
    assert page.is_checked(tid("color-by-head")) and page.is_checked(tid("hide-first-token"))
    page.uncheck(tid("hide-first-token"))
    page.wait_for_function("() => !location.search.includes('hidefirst')")
    assert "byhead=1" in page.url
