// What the suite and the server it starts agree on.
import { resolve } from "node:path";

export const PORT = Number(process.env.PURSER_E2E_PORT ?? 18_480);
export const MOCK_PORT = PORT + 1;
export const TSA_PORT = PORT + 2;
export const DATA_DIR = resolve("test-results/purser-data");
export const ADMIN = { email: "admin@example.com", password: "admin password 123" };
