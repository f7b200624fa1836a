// The Node example of README.md, as it is, against a real herald serve with
// auth on: it prints the events it missed, then how many.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { publish } from "../herald.js";
import { startHerald, mintToken } from "./helpers.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const nodeExample = blocks.find((b) => b.startsWith('import { subscribe } from "@heraldsse/herald";'));

test("README's Node example: five lines that subscribe with a token and print the replay count", async (t) => {
  assert.ok(nodeExample, "README.md has a Node example");
  assert.equal(nodeExample.split("\n").length - 1, 5, nodeExample);
  const secret = "herald-js-readme-secret-0123456789abcdef";
  const h = await startHerald(t, ["--auth-secret", secret]);
  const token = await mintToken(secret, { publish: "chat/*", subscribe: "chat/*" });
  const ids = [];
  for (const text of ["one", "two", "three"]) {
    ids.push(await publish(h.events, "chat/lobby", { text }, { token }));
  }

  // The example as written; only the package name and the address differ
  // here, since the test runs from the repository against its own herald.
  const dir = mkdtempSync(join(tmpdir(), "herald-js-readme-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "follow.mjs");
  writeFileSync(file, nodeExample
    .replace('"@heraldsse/herald"', JSON.stringify(new URL("../herald.js", import.meta.url).href))
    .replace("http://localhost:8080", h.url));
  const proc = spawn(process.execPath, [file], {
    env: { ...process.env, HERALD_TOKEN: token, LAST_ID: ids[0] },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.after(() => proc.kill());
  const lines = [];
  for await (const line of createInterface({ input: proc.stdout })) {
    lines.push(line);
    if (line.endsWith("missed events replayed")) {
      break;
    }
  }
  assert.deepEqual(lines, [
    `${ids[1]} { text: 'two' }`,
    `${ids[2]} { text: 'three' }`,
    "2 missed events replayed",
  ]);
});
