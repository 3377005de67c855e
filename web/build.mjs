// Builds the search page into podlog/web/static/ (git-ignored; shipped as package data).
// `node build.mjs --watch` rebuilds on change while developing.
import { build, context } from "esbuild";
import { copyFile, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
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
  legalComments: "eof",
  logLevel: "info",
};

/** The licenses of the bundled packages, shipped next to the bundle (MIT asks for the notice in copies). */
async function thirdPartyLicenses() {
  const pkg = JSON.parse(await readFile(join(here, "package.json"), "utf8"));
  const parts = [];
  for (const name of Object.keys(pkg.dependencies ?? {}).sort()) {
    const dir = join(here, "node_modules", name);
    const meta = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    const file = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)/i.test(f));
    const text = file ? await readFile(join(dir, file), "utf8") : `License: ${meta.license}`;
    parts.push(`${name} ${meta.version} (${meta.license})\n\n${text.trim()}\n`);
  }
  await writeFile(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join("\n----\n\n"));
}

await mkdir(out, { recursive: true });
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
await thirdPartyLicenses();
if (process.argv.includes("--watch")) {
  await (await context(options)).watch();
} else {
  await build(options);
}
