// Builds the search page into podlog/web/static/ (git-ignored; shipped as package data).
// `node build.mjs --watch` rebuilds on change while developing.
import { build, context } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "podlog", "web", "static");

const options = {
  entryPoints: { app: join(here, "src", "main.ts") },
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  outdir: out,
  legalComments: "linked",
  logLevel: "info",
};

await mkdir(out, { recursive: true });
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
if (process.argv.includes("--watch")) {
  await (await context(options)).watch();
} else {
  await build(options);
}
