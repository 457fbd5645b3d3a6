// ESLint for natster's browser code: js/src (bundled into the service worker) and the
// page's modules in src/natster/web/static (served as they are). `make lint` runs it
// (js/node_modules/.bin/eslint, from here), where node is present.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const fromJs = createRequire(new URL("./js/package.json", import.meta.url));
const { default: js } = await import(pathToFileURL(fromJs.resolve("@eslint/js")).href);
const globals = fromJs("globals");

export default [
  {
    ignores: [
      "js/node_modules/",
      "src/natster/web/static/sw.js",
      "src/natster/web/static/markdown.js",
      ".venv/",
      "**/*.min.js",
    ],
  },
  js.configs.recommended,
  {
    files: ["js/src/**/*.js"],
    languageOptions: { globals: { ...globals.serviceworker } },
  },
  {
    files: ["src/natster/web/static/*.js"],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ["js/*.mjs", "eslint.config.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
];
