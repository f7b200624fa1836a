// herald.js as users get it: from herald serve at /herald.js, and as an npm
// package holding just the module and its README.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

import * as herald from "../herald.js";
import { startHerald } from "./helpers.js";

const dir = fileURLToPath(new URL("../", import.meta.url));
const source = readFileSync(new URL("../herald.js", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

test("herald serve serves this very herald.js at /herald.js, revalidated by ETag", async (t) => {
  const h = await startHerald(t);
  const res = await fetch(`${h.url}/herald.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), source);
  const etag = res.headers.get("etag");
  assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const again = await fetch(`${h.url}/herald.js`, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  const post = await fetch(`${h.url}/herald.js`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(typeof (await post.json()).error, "string");
});

test("package.json: an ES module for Node 20 and later, exporting herald.js", () => {
  assert.equal(pkg.type, "module");
  assert.equal(pkg.exports["."], "./herald.js");
  assert.equal(pkg.engines.node, ">=20");
  assert.equal(pkg.version, herald.version, "herald.js's version is the package's");
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
  assert.ok(pkg.name && pkg.license);
});

test("npm pack holds herald.js, its README and package.json, nothing else", async () => {
  const { stdout } = await promisify(execFile)("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: dir });
  const files = JSON.parse(stdout)[0].files.map((f) => f.path).sort();
  assert.deepEqual(files, ["README.md", "herald.js", "package.json"]);
});

test("the module's exports", () => {
  assert.deepEqual(Object.keys(herald).sort(), [
    "DEFAULT_MAX_DELAY", "DEFAULT_MAX_SIZE", "DEFAULT_RETRY", "HeraldError", "Parser", "Subscription",
    "presence", "publish", "reconnectDelay", "subscribe", "version",
  ]);
});
