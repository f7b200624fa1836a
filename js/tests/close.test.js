// close leaves nothing behind: a process that subscribed and closed exits
// by itself, whether it closed while connecting, open or waiting to
// reconnect.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { once } from "node:events";

import { publish } from "../herald.js";
import { startHerald } from "./helpers.js";

const child = fileURLToPath(new URL("./fixtures/close-child.js", import.meta.url));

// runChild runs the fixture and resolves to its last line of output once it
// exits, or rejects when it has not exited within 10 s of its start:
// something kept it alive. onLine sees each line as it comes.
function runChild(url, when, onLine = () => {}) {
  const proc = spawn(process.execPath, [child, url, when], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.setEncoding("utf8").on("data", (chunk) => {
    for (const line of chunk.split("\n").filter(Boolean)) {
      onLine(line);
    }
    out += chunk;
  });
  proc.stderr.setEncoding("utf8").on("data", (chunk) => (err += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`closed while ${when}: the process did not exit by itself within 10 s; it printed ${out} ${err}`));
    }, 10000);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`closed while ${when}: exit ${code}: ${out} ${err}`));
        return;
      }
      resolve(JSON.parse(out.trim().split("\n").at(-1)));
    });
  });
}

test("close leaves no handle: the process exits by itself", async (t) => {
  const h = await startHerald(t);
  // A port nobody listens on: every attempt is refused.
  const spare = createServer().listen(0, "127.0.0.1");
  await once(spare, "listening");
  const refused = `http://127.0.0.1:${spare.address().port}/events`;
  spare.close();

  const cases = [
    ["connecting", h.events, () => {}],
    ["open", h.events, (line) => line === "open" && publish(h.events, "close/a", "bye")],
    ["reconnecting", refused, () => {}],
  ];
  for (const [when, url, onLine] of cases) {
    await t.test(`closed while ${when}`, async () => {
      const report = await runChild(url, when, onLine);
      // Closed while waiting to reconnect, the wait's timer is gone at once.
      assert.deepEqual(report, { state: "closed", error: null, timers: when === "reconnecting" ? 0 : -1 });
    });
  }
});
