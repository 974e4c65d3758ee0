/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Purser's build script sets PURSER_CONSOLE_OUT to its own output directory.
const outDir = process.env.PURSER_CONSOLE_OUT ?? "dist";
const purser = process.env.PURSER_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    // Nothing inline: the Content-Security-Policy allows scripts from Purser's files only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: { "/api": purser, "/v1": purser },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
