/// <reference types="vitest/config" />
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    lib: {
      entry: "src/index.ts",
      name: "{{ class_name }}",
      // "es" for bundlers and <script type="module">, "iife" for a plain <script> tag.
      formats: ["es", "iife"],
      fileName: (format) => (format === "es" ? "{{ project_name }}.js" : "{{ project_name }}.iife.js"),
    },
    target: "es2022",
    sourcemap: true,
  },
  test: {
    environment: "happy-dom",
  },
});
