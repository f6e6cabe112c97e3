// Files from an exported view: the PNG drawn from the export SVG, the browser download, the name.

/** Width and height (user units) of an SVG document string. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg\b[^>]*>/.exec(svg);
  const attr = (name: string) => {
    const a = m ? new RegExp(`\\s${name}="([\\d.]+)"`).exec(m[0]) : null;
    return a ? Number(a[1]) : 0;
  };
  return { width: attr("width"), height: attr("height") };
}

/** Draw an SVG document onto a canvas at `scale` x its size and encode it as PNG. */
export async function svgToPng(svg: string, scale = 2, doc: Document = document): Promise<Blob> {
  const { width, height } = svgSize(svg);
  if (!(width > 0 && height > 0)) throw new Error("the SVG has no width/height");
  const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml;charset=utf-8" }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = doc.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2D canvas in this browser");
    ctx.scale(canvas.width / width, canvas.height / height);
    ctx.drawImage(img, 0, 0, width, height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("PNG encoding failed"))), "image/png"),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Let the browser save `data` as a file. */
export function download(data: Blob, filename: string, doc: Document = document): void {
  const url = URL.createObjectURL(data);
  const a = doc.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  doc.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** A file name for an exported view: exbert-<model>-layer<l>.<ext>. */
export function exportFileName(model: string, layer: number, ext: string): string {
  const safe = model.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "view";
  return `exbert-${safe}-layer${layer}.${ext}`;
}
