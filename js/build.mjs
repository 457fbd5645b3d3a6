// Builds the service worker (src/natster/web/static/sw.js) and the page's Markdown
// module (markdown.js) from js/src with esbuild.
// The banner records the sha256 of every input (the sources and package-lock.json), so
// a test can tell, without node, that the shipped bundle is the one these sources make.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";

const inputs = [
  "package-lock.json",
  ...readdirSync("src")
    .sort()
    .map((name) => `src/${name}`),
];
const digest = createHash("sha256");
for (const name of inputs) digest.update(`${name}\0`).update(readFileSync(name)).update("\0");
const stamp = digest.digest("hex");

await build({
  entryPoints: ["src/sw.js"],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  legalComments: "eof",
  outfile: "../src/natster/web/static/sw.js",
  banner: { js: `// natster service worker, built by js/build.mjs; inputs sha256 ${stamp}` },
  logLevel: "warning",
});
await build({
  entryPoints: ["src/markdown.js"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  legalComments: "eof",
  outfile: "../src/natster/web/static/markdown.js",
  banner: { js: `// natster's Markdown for the page, built by js/build.mjs; inputs sha256 ${stamp}` },
  logLevel: "warning",
});
console.log(`built sw.js and markdown.js (inputs sha256 ${stamp})`);
