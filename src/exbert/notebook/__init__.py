"""exbert in Jupyter (JupyterLab, Notebook 7, VS Code): ``exbert.show(model, text)`` returns a
widget that renders the browser app's attention view from JavaScript shipped inside this
package (``static/widget/widget.js``): no CDN, no running server, works offline.

The widget's state (``layer``, ``heads``, ``weights``, ``hide_special``, ``threshold``,
``color_by_head``, ``hide_first``, ``mask``, ``text``, ``text_b``) is made of traits: read
them, set them, observe them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exbert.notebook.widget import ExbertWidget


def show(
    model_or_name: Any,
    text: str | None = None,
    *,
    text_b: str | None = None,
    layer: int | None = None,
    heads: Any = None,
    corpus: Any = None,
    **kwargs: Any,
) -> ExbertWidget:
    """An interactive attention view of ``text`` in a notebook.

    ``model_or_name``: an ``exbert.Model``, a name/path for ``exbert.load`` (loaded once per
    kernel) or an ``exbert.Analysis``. ``layer`` (0-based; negative from the end) and ``heads``
    (list; ``None`` = all) set the initial view; ``corpus`` a corpus to search (see
    ``ExbertWidget.search``). Other keywords: ``mask``, ``weights``, ``hide_special``,
    ``threshold``, ``top_k``, ``color_by_head`` (each head's lines in its own colour),
    ``hide_first`` (leave out the first token's lines: the attention sink of models without BOS),
    ``lenses`` (default True: the model view, logit lens, head detectors and rollout, each
    computed in the kernel when the view first shows it; False leaves them out).
    """
    from exbert.notebook.widget import ExbertWidget

    return ExbertWidget.create(
        model_or_name, text, text_b=text_b, layer=layer, heads=heads, corpus=corpus, **kwargs
    )


def __getattr__(name: str) -> Any:
    if name == "ExbertWidget":
        from exbert.notebook.widget import ExbertWidget

        return ExbertWidget
    raise AttributeError(f"module 'exbert.notebook' has no attribute {name!r}")


__all__ = ["ExbertWidget", "show"]
