// Builds the viewer bundle: node build.mjs OUTDIR
// Writes OUTDIR/{index.html, app.js, app.css, favicon.svg} and gzip copies of each.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "dist"));
await mkdir(out, { recursive: true });

await esbuild.build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome111", "firefox115", "safari16"],
  outfile: join(out, "app.js"),
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(join(here, "index.html"), join(out, "index.html"));
await copyFile(join(here, "favicon.svg"), join(out, "favicon.svg"));

let total = 0;
for (const name of ["index.html", "app.js", "app.css", "favicon.svg"]) {
  const gz = gzipSync(await readFile(join(out, name)), { level: 9 });
  await writeFile(join(out, `${name}.gz`), gz);
  total += gz.length;
}
console.log(`viewer bundle: ${(total / 1024).toFixed(1)} KiB gzipped`);
