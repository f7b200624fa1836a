// Helpers for the tests that run against a real `herald serve`: build the
// binary (or take HERALD_BIN), start it on a free loopback port, mint
// tokens with `herald token`, and wait for what a subscription reports.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { once } from "node:events";

const run = promisify(execFile);

/** The repository's root. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

let built = null;

/**
 * heraldBinary returns the path of a herald binary: HERALD_BIN, or one
 * built from this checkout into a temporary directory (once per process).
 * @param {import("node:test").TestContext | object} ctx a test context, for its cleanup
 */
export async function heraldBinary() {
  if (process.env.HERALD_BIN) {
    return process.env.HERALD_BIN;
  }
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-js-test-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, "herald");
    await run("go", ["build", "-o", bin, "./cmd/herald"], { cwd: repoRoot });
    return bin;
  })();
  return built;
}

/**
 * startHerald starts `herald serve` with args on a free loopback port (or
 * addr), waits until it logs that it serves and /readyz answers 200, and
 * returns {url, events, addr, stop}. stop sends SIGTERM and waits for the
 * exit; the test's cleanup does so too.
 * @param {import("node:test").TestContext} t
 * @param {string[]} [args]
 * @param {{addr?: string, env?: Record<string, string>}} [opts]
 */
export async function startHerald(t, args = [], opts = {}) {
  const bin = await heraldBinary();
  const proc = spawn(bin, ["serve", "--addr", opts.addr ?? "127.0.0.1:0", "--log-format", "json", ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = once(proc, "exit");
  let stderr = "";
  const serving = new Promise((resolve, reject) => {
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      stderr += chunk;
      for (const line of stderr.split("\n")) {
        if (line.includes('"herald serving"')) {
          resolve(JSON.parse(line));
        }
      }
    });
    proc.on("exit", (code) => reject(new Error(`herald serve exited ${code} before serving:\n${stderr}`)));
  });
  const line = await serving;
  const url = line.url.replace(/\/$/, "");
  const ready = await fetch(`${url}/readyz`);
  if (ready.status !== 200) {
    throw new Error(`herald serve at ${url}: /readyz answered ${ready.status}`);
  }
  await ready.body?.cancel();
  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
      }
      await exited;
    })();
    return stopped;
  };
  t.after(stop);
  return { url, events: `${url}/events`, addr: line.addr, stop, stderr: () => stderr };
}

/**
 * mintToken runs `herald token` with the secret and returns the token.
 * @param {string} secret
 * @param {{publish?: string, subscribe?: string, payload?: string, ttl?: string}} scope
 */
export async function mintToken(secret, scope) {
  const bin = await heraldBinary();
  const args = ["token", "--ttl", scope.ttl ?? "1h"];
  if (scope.publish) {
    args.push("--publish", scope.publish);
  }
  if (scope.payload) {
    args.push("--payload", scope.payload);
  }
  if (scope.subscribe) {
    args.push("--subscribe", scope.subscribe);
  }
  const { stdout } = await run(bin, args, { env: { ...process.env, HERALD_AUTH_SECRET: secret } });
  return stdout.trim();
}

/**
 * recorder returns subscribe options that record everything a subscription
 * reports, and `until(what, predicate, ms)`, which resolves as soon as the
 * predicate holds on the record (checked on each report), or rejects
 * after ms saying what it waited for.
 */
export function recorder(extra = {}) {
  const rec = { events: [], states: [], gaps: [], replayed: [], errors: [], log: [] };
  const waiters = new Set();
  const check = () => {
    for (const w of waiters) {
      if (w.predicate(rec)) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(rec);
      }
    }
  };
  const options = {
    onEvent: (e) => {
      rec.events.push(e);
      rec.log.push(`event ${e.type} ${e.lastEventId}`);
      check();
    },
    onState: (s, info) => {
      rec.states.push(s);
      rec.log.push(`state ${s}${info?.error ? ` (${info.error.message})` : ""}`);
      check();
    },
    onGap: (g) => {
      rec.gaps.push(g);
      rec.log.push(`gap ${g.reason}`);
      check();
    },
    onReplayed: (n) => {
      rec.replayed.push(n);
      rec.log.push(`replayed ${n}`);
      check();
    },
    onError: (err) => {
      rec.errors.push(err);
      rec.log.push(`error ${err.message}`);
      check();
    },
    ...extra,
  };
  const until = (what, predicate, ms = 10000) => {
    if (predicate(rec)) {
      return Promise.resolve(rec);
    }
    return new Promise((resolve, reject) => {
      const w = { predicate, resolve };
      w.timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`waited ${ms} ms for ${what}; got:\n  ${rec.log.join("\n  ")}`));
      }, ms);
      waiters.add(w);
    });
  };
  return { rec, options, until };
}
