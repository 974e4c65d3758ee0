// Starts a fresh Purser for the end-to-end suite: a new data directory under
// test-results/, a platform admin, a mock model server for deployments and a
// time-stamping authority for documents.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { ADMIN, DATA_DIR, MOCK_PORT, PORT, TSA_PORT } from "./env.mjs";
import { startTsa } from "./tsa.mjs";

const bin = resolve(process.env.PURSER_BIN_DIR ?? "../target/debug");
rmSync(DATA_DIR, { recursive: true, force: true });
mkdirSync(DATA_DIR, { recursive: true });
const tsa = startTsa(resolve(DATA_DIR, "..", "tsa"), TSA_PORT);
const env = {
  ...process.env,
  RUST_LOG: "warn",
  PURSER__TIMESTAMPS__URL: tsa.url,
  PURSER__TIMESTAMPS__CA_FILE: tsa.caFile,
};
execFileSync(
  `${bin}/purser`,
  ["admin", "create", "--data-dir", DATA_DIR, "--email", ADMIN.email, "--password", ADMIN.password],
  { env, stdio: "inherit" },
);

const children = [
  spawn(
    `${bin}/purser-mock-upstream`,
    ["--listen", `127.0.0.1:${MOCK_PORT}`, "--chunk-delay-ms", "5"],
    { env, stdio: "inherit" },
  ),
  spawn(`${bin}/purser`, ["serve", "--data-dir", DATA_DIR, "--listen", `127.0.0.1:${PORT}`], {
    env,
    stdio: "inherit",
  }),
];
const stop = () => {
  for (const child of children) child.kill("SIGTERM");
  tsa.server.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
for (const child of children) child.on("exit", (code) => code && process.exit(code));
