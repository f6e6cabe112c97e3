/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The Python server serves the built app from src/exbert/static at "/".
// `npm run dev` proxies /api to a running `exbert serve` (EXBERT_API, default port 5050).
const api = process.env.EXBERT_API ?? "http://127.0.0.1:5050";

export default defineConfig({
  base: "./",
  build: {
    outDir: "../src/exbert/static",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/api": { target: api, changeOrigin: true } },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
