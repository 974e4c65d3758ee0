// What the journeys share: the words a person reads (from the catalogs of the page's
// language), the mail outbox, and an admin's API session for preparing data.
import { expect, request, type Page, type TestInfo } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type en from "../src/locales/en.json";
import { ADMIN, DATA_DIR } from "./env.mjs";

export type Messages = typeof en;

/** The catalog of the language a project's browser asks for. */
export function words(info: TestInfo): Messages {
  const language = info.project.name.split("-")[0];
  return JSON.parse(readFileSync(`src/locales/${language}.json`, "utf8")) as Messages;
}

/** A message with its placeholders filled, as i18next does. */
export function fill(text: string, values: Record<string, string | number>): string {
  return text.replace(/{{\s*(\w+)\s*}}/g, (_, k: string) => String(values[k] ?? ""));
}

/** Addresses unique to the project, as both projects share one server. */
export const address = (info: TestInfo, who: string) => `${who}.${info.project.name}@example.com`;

/** The link of the newest mail to `to` whose text contains `path`. */
export async function mailedLink(to: string, path: string): Promise<string> {
  let link: string | undefined;
  await expect
    .poll(
      () => {
        const outbox = join(DATA_DIR, "mail", "outbox.jsonl");
        const mails = readFileSync(outbox, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { to: string; text: string });
        const text = mails.reverse().find((m) => m.to === to && m.text.includes(path))?.text;
        link = text?.match(/https?:\/\/\S+/g)?.find((u) => u.includes(path));
        return link;
      },
      { timeout: 10_000 },
    )
    .toBeTruthy();
  const url = new URL(link!);
  return url.pathname + url.search;
}

/** An API client signed in as the platform admin, for preparing what a journey needs. */
export function adminApi(baseURL: string) {
  return apiAs(baseURL, ADMIN.email, ADMIN.password);
}

/** Someone with a verified account, prepared through the API, and their API client. */
export async function person(baseURL: string, email: string, name: string) {
  const password = "correct horse battery staple";
  const context = await request.newContext({ baseURL });
  await context.post("/api/v1/auth/register", { data: { email, password, name } });
  const token = new URLSearchParams((await mailedLink(email, "/verify-email")).split("?")[1]).get(
    "token",
  );
  expect((await context.post("/api/v1/auth/verify-email", { data: { token } })).ok()).toBeTruthy();
  await context.dispose();
  return { email, password, ...(await apiAs(baseURL, email, password)) };
}

async function apiAs(baseURL: string, email: string, password: string) {
  const context = await request.newContext({ baseURL });
  const login = await context.post("/api/v1/auth/login", { data: { email, password } });
  expect(login.ok()).toBeTruthy();
  const { accessToken, user } = await login.json();
  const headers = { authorization: `Bearer ${accessToken}` };
  return {
    id: user.id as string,
    async call(method: string, path: string, data?: unknown) {
      const response = await context.fetch(path, { method, data, headers });
      expect(response.ok(), `${method} ${path}: ${await response.text()}`).toBeTruthy();
      return response.status() === 204 ? null : response.json();
    },
    dispose: () => context.dispose(),
  };
}

/** Registers, verifies through the mailed link and signs in, as a person would. */
export async function signUp(page: Page, m: Messages, email: string, name: string) {
  const password = "correct horse battery staple";
  await page.goto("/register");
  await page.getByLabel(m.fields.name).fill(name);
  await page.getByLabel(m.fields.email).fill(email);
  await page.getByLabel(m.fields.password).fill(password);
  await page.getByRole("button", { name: m.register.submit }).click();
  await expect(page.getByText(m.register.sent)).toBeVisible();
  await page.goto(await mailedLink(email, "/verify-email"));
  await page.getByRole("button", { name: m.verify.submit }).click();
  await expect(page.getByText(m.verify.done)).toBeVisible();
  await signIn(page, m, email, password);
  return password;
}

export async function signIn(page: Page, m: Messages, email: string, password: string) {
  await page.goto("/sign-in");
  await page.getByLabel(m.fields.email).fill(email);
  await page.getByLabel(m.fields.password).fill(password);
  await page.getByRole("button", { name: m.signIn.submit }).click();
  await expect(page.getByRole("navigation", { name: m.nav.label })).toBeVisible();
}
