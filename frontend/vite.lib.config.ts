// Builds of the browser app's views for hosts other than the web app, each one file with the
// CSS inside (imported with `?inline`) and no other chunk:
//   EXBERT_ENTRY=widget      src/hosts/widget/widget.ts -> ../src/exbert/static/widget/widget.js
//                            (ES module, the anywidget `_esm` of exbert.notebook)
//   EXBERT_ENTRY=standalone  src/hosts/standalone.ts -> ../src/exbert/static/standalone/exbert-standalone.js
//                            (IIFE, inlined by exbert.export into one HTML file)
// Run after the app build (`npm run build` does all three): the app build empties static/.
import { defineConfig } from "vite";

const entry = process.env.EXBERT_ENTRY === "standalone" ? "standalone" : "widget";

export default defineConfig({
  base: "./",
  publicDir: false,
  build: {
    outDir: `../src/exbert/static/${entry}`,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    minify: true,
    chunkSizeWarningLimit: 600,
    lib:
      entry === "widget"
        ? { entry: "src/hosts/widget/widget.ts", formats: ["es"], fileName: () => "widget.js" }
        : { entry: "src/hosts/standalone.ts", formats: ["iife"], name: "exbertStandalone", fileName: () => "exbert-standalone.js" },
  },
});
