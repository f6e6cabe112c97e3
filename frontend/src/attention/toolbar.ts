// The viewer's toolbar: layer (select, previous, next), threshold slider, the drawing switches
// (hide special tokens, hide the first token, colour by head), a hint line and the SVG/PNG
// export buttons; with lenses, the attention mode (raw, rollout, flow). It changes the store;
// `sync` shows the store.

import { h } from "../dom";
import { flowAllowed, MAX_FLOW_TOKENS } from "../lenses/maths";
import { ATTENTION_MODES, type AttentionMode } from "../lenses/state";
import { shapeOf, type State, type Store } from "../store";
import { layerPatch, stepPatch } from "./selection";

const button = (testid: string, title: string, text: string, cls?: string) =>
  h("button", { type: "button", class: cls, title, "data-testid": testid }, text);

export class Toolbar {
  readonly el: HTMLDivElement;
  private readonly layerSelect: HTMLSelectElement;
  private readonly threshold: HTMLInputElement;
  private readonly thresholdValue: HTMLSpanElement;
  private readonly special: HTMLInputElement;
  private readonly first: HTMLInputElement;
  private readonly byHead: HTMLInputElement;
  private readonly hint: HTMLDivElement;
  private readonly exportButtons: HTMLButtonElement[];
  /** The attention mode switch (data-testid `attention-mode`); null without lenses. */
  private readonly mode: HTMLSelectElement | null = null;
  private hintTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly store: Store<State>,
    onExport: (kind: "svg" | "png") => void,
    modes = false,
  ) {
    this.layerSelect = h("select", { "data-testid": "layer-select", title: "Layer: 0-based, as in transformers (outputs.attentions[i]); \u2190/\u2192 keys" });
    this.layerSelect.addEventListener("change", () => {
      const s = store.state;
      const p = layerPatch(s, shapeOf(s).layers, Number(this.layerSelect.value));
      if (p) store.update(p);
    });
    const prev = button("layer-prev", "Previous layer (\u2190)", "\u2039", "icon");
    prev.addEventListener("click", () => this.step(-1));
    const next = button("layer-next", "Next layer (\u2192)", "\u203a", "icon");
    next.addEventListener("click", () => this.step(1));
    const layerCtl = h(
      "div",
      { class: "ctl-group" },
      h("label", { class: "ctl" }, h("span", { class: "ctl-name" }, "Layer"), this.layerSelect),
      prev,
      next,
    );

    this.threshold = h("input", {
      type: "range",
      min: "0.05",
      max: "1",
      step: "0.01",
      "data-testid": "threshold-slider",
      title: "Each row keeps its strongest edges until this share of its attention is covered",
    });
    this.thresholdValue = h("span", { class: "ctl-value" });
    this.threshold.addEventListener("input", () => store.update({ threshold: Number(this.threshold.value) }));
    const thLabel = h("label", { class: "ctl" }, h("span", { class: "ctl-name" }, "Threshold"), this.threshold, this.thresholdValue);

    this.special = h("input", { type: "checkbox", "data-testid": "special-toggle" });
    this.special.addEventListener("change", () => store.update({ hideSpecial: this.special.checked }));
    const spLabel = h("label", { class: "ctl check" }, this.special, h("span", {}, "Hide special tokens"));

    const firstTitle =
      "Hide the first token's attention and renormalise each row over the rest. The first token is " +
      "often the attention sink: models without a BOS token (SmolLM2) park unused attention on their " +
      "first word, which \u201cHide special tokens\u201d cannot hide.";
    this.first = h("input", { type: "checkbox", "data-testid": "hide-first-token", title: firstTitle });
    this.first.addEventListener("change", () => store.update({ hideFirst: this.first.checked }));
    const firstLabel = h("label", { class: "ctl check", title: firstTitle }, this.first, h("span", {}, "Hide first token (sink)"));

    const byHeadTitle =
      "Draw each selected head's lines in that head's own colour (as on its box) instead of one mix " +
      "of the heads; hover a token to follow its lines";
    this.byHead = h("input", { type: "checkbox", "data-testid": "color-by-head", title: byHeadTitle });
    this.byHead.addEventListener("change", () => store.update({ colorByHead: this.byHead.checked }));
    const byHeadLabel = h("label", { class: "ctl check", title: byHeadTitle }, this.byHead, h("span", {}, "Colour by head"));

    this.hint = h("div", { class: "hint", "data-testid": "viewer-hint", "aria-live": "polite" });
    const svgButton = button("export-svg-button", "Download the view as SVG (text as text, with title and legend)", "SVG");
    svgButton.addEventListener("click", () => onExport("svg"));
    const pngButton = button("export-png-button", "Download the view as PNG (drawn from the SVG at 2x)", "PNG");
    pngButton.addEventListener("click", () => onExport("png"));
    this.exportButtons = [svgButton, pngButton];
    const exportCtl = h("div", { class: "ctl-group export" }, h("span", { class: "ctl-name" }, "Export"), svgButton, pngButton);
    const modeCtl = modes ? this.modeControl() : null;
    if (modeCtl) this.mode = modeCtl.querySelector("select");
    this.el = h("div", { class: "toolbar" }, layerCtl, ...(modeCtl ? [modeCtl] : []), thLabel, spLabel, firstLabel, byHeadLabel, this.hint, exportCtl);
  }

  private modeControl(): HTMLLabelElement {
    const titles: Record<AttentionMode, string> = {
      raw: "The layer's attention, as the model computed it",
      rollout: "Attention rollout (Abnar & Zuidema 2020): attention multiplied through layers 0..this one, with the residual connection",
      flow: `Attention flow (max-flow through the layers); inputs up to ${MAX_FLOW_TOKENS} tokens`,
    };
    const select = h(
      "select",
      { "data-testid": "attention-mode", title: "What the lines show: raw attention, rollout or flow" },
      ...ATTENTION_MODES.map((m) => h("option", { value: m, title: titles[m] }, m)),
    );
    select.addEventListener("change", () => {
      const s = this.store.state;
      this.store.update({ lens: { ...s.lens, attentionMode: select.value as AttentionMode } });
    });
    return h("label", { class: "ctl" }, h("span", { class: "ctl-name" }, "Attention"), select);
  }

  step(delta: number): void {
    const s = this.store.state;
    const p = stepPatch(s, shapeOf(s).layers, delta);
    if (p) this.store.update(p);
  }

  /** Show the state in the controls. */
  sync(s: State): void {
    const n = shapeOf(s).layers;
    if (this.layerSelect.options.length !== n) {
      this.layerSelect.replaceChildren(...Array.from({ length: n }, (_, l) => h("option", { value: l }, `${l}`)));
    }
    if (n) this.layerSelect.value = String(Math.min(s.layer, n - 1));
    this.layerSelect.disabled = n === 0;
    this.threshold.value = String(s.threshold);
    this.thresholdValue.textContent = `${Math.round(s.threshold * 100)}%`;
    this.special.checked = s.hideSpecial;
    this.first.checked = s.hideFirst === true;
    this.byHead.checked = s.colorByHead === true;
    for (const b of this.exportButtons) b.disabled = s.analysis === null;
    if (this.mode) {
      this.mode.value = s.lens.attentionMode;
      const T = s.analysis?.header.tokens.length ?? 0;
      const flow = this.mode.querySelector<HTMLOptionElement>('option[value="flow"]');
      if (flow) {
        flow.disabled = !flowAllowed(T) && s.lens.attentionMode !== "flow";
        flow.title = flowAllowed(T)
          ? `Attention flow (max-flow through the layers); inputs up to ${MAX_FLOW_TOKENS} tokens`
          : `Attention flow is offered up to ${MAX_FLOW_TOKENS} tokens; this input has ${T}`;
      }
      this.mode.title = flow?.disabled ? `raw, rollout (flow: up to ${MAX_FLOW_TOKENS} tokens)` : "What the lines show: raw attention, rollout or flow";
    }
  }

  /** A short message beside the controls, gone after 4 s. */
  flashHint(text: string): void {
    this.hint.textContent = text;
    if (this.hintTimer) clearTimeout(this.hintTimer);
    this.hintTimer = setTimeout(() => (this.hint.textContent = ""), 4000);
  }
}
