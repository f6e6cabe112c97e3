"""What a person does with the widget's current view: export it (HTML, SVG, PNG) and search a
corpus from one of its tokens. A mixin of :class:`exbert.notebook.widget.ExbertWidget`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError
from exbert.view import DEFAULT_K_SHOWN

if TYPE_CHECKING:
    from exbert.analysis import Analysis


class ViewActions:
    """Exports and corpus search of the view state (``layer``, ``heads``, ``weights``,
    ``hide_special``, ``threshold``, ``color_by_head``, ``hide_first``) that the widget holds
    as traits."""

    analysis: Analysis | None
    layer: int
    heads: list[int] | None
    weights: list[float] | None
    hide_special: bool
    threshold: float
    color_by_head: bool
    hide_first: bool

    # --- exports of the current view ---------------------------------------------------------

    def _view(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "heads": self.heads,
            "weights": self.weights,
            "hide_special": self.hide_special,
            "threshold": self.threshold,
            "color_by_head": self.color_by_head,
            "hide_first": self.hide_first,
        }

    def _require_analysis(self) -> Analysis:
        if self.analysis is None:
            raise ExbertError("the widget has no analysis yet")
        return self.analysis

    def export_html(self, out: str | os.PathLike[str] | None = None, **kwargs: Any) -> str:
        """The current view as a self-contained HTML file (see ``exbert.export_html``)."""
        from exbert.export import export_html

        return export_html(self._require_analysis(), out=out, **{**self._view(), **kwargs})

    def export_svg(self, out: str | os.PathLike[str] | None = None, **kwargs: Any) -> str:
        """The current view as SVG, drawn by the same JavaScript in headless Chromium."""
        from exbert.export import export_svg

        return export_svg(self._require_analysis(), out=out, **{**self._view(), **kwargs})

    def export_png(
        self, out: str | os.PathLike[str] | None = None, *, scale: float = 2, **kwargs: Any
    ) -> bytes:
        """The current view as PNG (``scale`` x the SVG's size)."""
        from exbert.export import export_png

        return export_png(
            self._require_analysis(), out=out, scale=scale, **{**self._view(), **kwargs}
        )

    # --- corpus search -----------------------------------------------------------------------

    def search(
        self,
        token: int,
        *,
        layer: int | str | None = None,
        by: str = "embedding",
        heads: Sequence[int] | None = None,
        k: int = DEFAULT_K_SHOWN,
        filters: Any = None,
    ) -> Any:
        """The corpus tokens nearest to token ``token`` of this analysis at ``layer`` (0-based
        transformer layer as in the view, default the shown one; ``"embeddings"``: the
        embedding output): ``by="embedding"`` (the layer's output) or ``"context"``
        (per-head contexts of ``heads``, default all). Returns exbert.search's SearchResult
        and shows it under the view (``search_result``)."""
        from exbert.notebook.corpus import search

        return search(self, token, layer=self.layer if layer is None else layer, by=by,
                      heads=heads, k=k, filters=filters)
