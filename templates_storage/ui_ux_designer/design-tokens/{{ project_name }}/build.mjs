// Builds every platform from tokens/**. Light (default) and dark themes are separate builds that
// share the base and semantic layers; the dark build only emits the tokens the theme overrides.
import StyleDictionary from "style-dictionary";

const prefix = "{{ css_prefix }}";

const light = new StyleDictionary({
  source: ["tokens/base/**/*.json", "tokens/semantic/**/*.json"],
  usesDtcg: true,
  log: { verbosity: "default", warnings: "error" },
  platforms: {
    css: {
      transformGroup: "css",
      prefix,
      buildPath: "dist/css/",
      files: [{ destination: "tokens.css", format: "css/variables", options: { outputReferences: true } }],
    },
    scss: {
      transformGroup: "scss",
      prefix,
      buildPath: "dist/scss/",
      files: [{ destination: "_tokens.scss", format: "scss/variables" }],
    },
    js: {
      transformGroup: "js",
      buildPath: "dist/js/",
      files: [
        { destination: "tokens.js", format: "javascript/es6" },
        { destination: "tokens.d.ts", format: "typescript/es6-declarations" },
      ],
    },
    json: {
      transformGroup: "js",
      buildPath: "dist/json/",
      files: [{ destination: "tokens.json", format: "json/nested" }],
    },
  },
});

const dark = new StyleDictionary({
  source: ["tokens/base/**/*.json", "tokens/semantic/**/*.json", "tokens/themes/dark.json"],
  usesDtcg: true,
  log: { verbosity: "default", warnings: "disabled" },
  platforms: {
    css: {
      transformGroup: "css",
      prefix,
      buildPath: "dist/css/",
      files: [
        {
          destination: "tokens-dark.css",
          format: "css/variables",
          filter: (token) => token.filePath.endsWith("themes/dark.json"),
          options: { selector: '[data-theme="dark"]', outputReferences: false },
        },
      ],
    },
  },
});

await light.buildAllPlatforms();
await dark.buildAllPlatforms();
console.log("tokens built into dist/");
