// Build a ChaosKit plugin written in JavaScript into a WebAssembly component.
//
//   node build.mjs <injector|validator> <src/plugin.js> <out.wasm> [--wit DIR] [--schema FILE]
//
// Uses the Bytecode Alliance's componentize-js (StarlingMonkey) with every WASI feature
// disabled (stdio, random, clocks, http, fetch-event), so the component imports nothing but
// `chaoskit:plugin/host` and `chaoskit:plugin/types` and loads in the host with no grant. The
// plugin's imports of `./chaoskit.js` (the helper module beside this script) are inlined first:
// componentize-js takes one module. With `--schema FILE` (default `config.schema.json` beside
// the source or in its parent directory, when present) the JSON schema of the configuration is embedded as the custom
// section `chaoskit:config-schema`, which `chaoskit-host plugin inspect` shows.

import { componentize } from "@bytecodealliance/componentize-js";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  return value;
};
const witOption = option("--wit");
const schemaOption = option("--schema");
const [world, source, out] = args;
if (!["injector", "validator"].includes(world) || !source || !out) {
  console.error("usage: node build.mjs <injector|validator> <src/plugin.js> <out.wasm> [--wit DIR] [--schema FILE]");
  process.exit(2);
}
const wit = resolve(witOption ?? [join(here, "wit"), join(here, "../wit")].find((d) => existsSync(d)) ?? "wit");

// One module: the helper's exports become locals of the plugin's module.
const helper = (await readFile(join(here, "chaoskit.js"), "utf8")).replace(/^export /gm, "");
let text = await readFile(source, "utf8");
const importHelper = /^import\s*\{([^}]*)\}\s*from\s*["'](?:\.\/|\.\.\/)*(?:[\w./-]*\/)?chaoskit(?:\.js)?["'];?\s*$/m;
const match = text.match(importHelper);
if (match) {
  const names = match[1].split(",").map((n) => n.trim()).filter(Boolean);
  const aliases = names
    .filter((n) => n.includes(" as "))
    .map((n) => n.split(/\s+as\s+/))
    .map(([from, to]) => `const ${to} = ${from};`);
  text = `${helper}\n${aliases.join("\n")}\n${text.replace(importHelper, "")}`;
}

const { component } = await componentize(text, {
  witPath: wit,
  worldName: world,
  sourceName: basename(source),
  disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"],
});

let bytes = Buffer.from(component);
const schemaPath =
  schemaOption ??
  [dirname(resolve(source)), dirname(dirname(resolve(source)))].map((d) => join(d, "config.schema.json")).find(existsSync);
if (schemaPath) {
  const schema = await readFile(schemaPath);
  JSON.parse(schema.toString("utf8")); // refuse a schema that is not JSON
  bytes = Buffer.concat([bytes, customSection("chaoskit:config-schema", schema)]);
}
await writeFile(out, bytes);
console.log(`wrote ${out} (${bytes.length} bytes)`);

/** A custom section (id 0) with `name` and `payload`, valid at the end of a component. */
function customSection(name, payload) {
  const nameBytes = Buffer.from(name, "utf8");
  const body = Buffer.concat([leb128(nameBytes.length), nameBytes, payload]);
  return Buffer.concat([Buffer.from([0]), leb128(body.length), body]);
}

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}
