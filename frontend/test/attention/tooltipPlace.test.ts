import { describe, expect, it } from "vitest";
import { placeTooltip, type Rect } from "../../src/attention/tooltip";

const rect = (left: number, top: number, w: number, h: number): Rect => ({ left, top, right: left + w, bottom: top + h });
const inside = (b: Rect, x: number, y: number, w: number, h: number) => x >= b.left && y >= b.top && x + w <= b.right && y + h <= b.bottom;
const size = { w: 250, h: 160 };

describe("tooltip placement", () => {
  it("goes beside the view when there is room", () => {
    const at = placeTooltip(size, rect(400, 100, 150, 20), rect(20, 80, 560, 400), rect(0, 0, 1280, 900), []);
    expect(at).toEqual({ x: 588, y: 86 });
  });

  it("stays inside a narrow container: beside the token, left of it, when the view fills the width", () => {
    const bounds = rect(300, 0, 640, 800); // a notebook output from x=300 to x=940
    const token = rect(720, 300, 150, 20); // a right-column token at the right edge
    const at = placeTooltip(size, token, rect(310, 40, 580, 500), bounds, []);
    expect(inside(bounds, at.x, at.y, size.w, size.h)).toBe(true);
    expect(at.x + size.w).toBeLessThanOrEqual(token.left);
  });

  it("never covers the head thumbnails: below them, or elsewhere", () => {
    const thumbs = rect(620, 120, 600, 150);
    const token = rect(30, 130, 150, 20);
    const at = placeTooltip(size, token, rect(20, 80, 560, 400), rect(0, 0, 1280, 900), [thumbs]);
    const box = rect(at.x, at.y, size.w, size.h);
    const hit = box.left < thumbs.right && thumbs.left < box.right && box.top < thumbs.bottom && thumbs.top < box.bottom;
    expect(hit).toBe(false);
    expect(at.y).toBe(thumbs.bottom + 8);
  });
});
