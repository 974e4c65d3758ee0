// Every page, signed out and as an admin: no serious or critical accessibility violation
// (axe-core), reachable from the navigation, and a screenshot for docs/console.md.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { ADMIN } from "./env.mjs";
import { signIn, words } from "./support";

const SHOTS = "../docs/console";

async function check(page: Page, info: TestInfo, name: string) {
  await page.waitForLoadState("networkidle");
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(serious, `${name} (${info.project.name})`).toEqual([]);
  // The docs show the console in English, light, and one page dark in French.
  if (info.project.name === "en-light" || name === "home") {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}/${name}-${info.project.name}.png` });
  }
}

test("the signed-out pages", async ({ page }, info) => {
  for (const [name, path] of [
    ["sign-in", "/sign-in"],
    ["register", "/register"],
    ["forgot-password", "/forgot-password"],
    ["verify-email", "/verify-email?token=example"],
    ["reset-password", "/reset-password?token=example"],
    ["accept-invitation", "/invitations/accept?token=example"],
  ] as const) {
    await page.goto(path);
    await check(page, info, name);
  }
});

test("every page of the navigation", async ({ page }, info) => {
  // Every page and tab, each checked by axe and photographed: about a minute.
  test.setTimeout(180_000);
  const m = words(info);
  await signIn(page, m, ADMIN.email, ADMIN.password);
  await check(page, info, "home");
  const nav = page.getByRole("navigation", { name: m.nav.label });
  for (const [name, label] of [
    ["models", m.nav.models],
    ["subscriptions", m.nav.subscriptions],
    ["api-keys", m.nav.apiKeys],
    ["usage", m.nav.usage],
    ["playground", m.nav.playground],
    ["organizations", m.nav.organizations],
    ["account", m.nav.account],
    ["admin-models", m.nav.adminModels],
    ["admin-subscriptions", m.nav.adminSubscriptions],
    ["admin-users", m.nav.adminUsers],
    ["admin-organizations", m.nav.adminOrganizations],
    ["admin-audit", m.nav.adminAudit],
  ] as const) {
    await nav.getByRole("link", { name: label, exact: true }).click();
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await check(page, info, name);
  }
  // An organization's tabs, and a model's page.
  await nav.getByRole("link", { name: m.nav.organizations, exact: true }).click();
  await page.getByRole("grid").getByRole("link").first().click();
  for (const tab of [
    "members",
    "invitations",
    "teams",
    "documents",
    "vaults",
    "clients",
    "webhooks",
    "audit",
    "settings",
  ] as const) {
    await page.getByRole("tab", { name: m.organization.tabs[tab] }).click();
    await check(page, info, `organization-${tab}`);
  }
  await nav.getByRole("link", { name: m.nav.models, exact: true }).click();
  const model = page.getByRole("main").getByRole("link").first();
  if (await model.count()) {
    await model.click();
    await check(page, info, "model");
  }
});

test("a signed-out visitor's first page loads at most 500 KB of gzipped scripts and styles", async ({
  page,
  request,
}) => {
  const assets: string[] = [];
  page.on("request", (r) => {
    if (["script", "stylesheet"].includes(r.resourceType())) assets.push(new URL(r.url()).pathname);
  });
  await page.goto("/sign-in");
  await page.waitForLoadState("networkidle");
  expect(assets.length).toBeGreaterThan(0);
  let bytes = 0;
  for (const path of assets) {
    const response = await request.get(path, { headers: { "accept-encoding": "gzip" } });
    expect(response.headers()["content-encoding"]).toBe("gzip");
    // What crossed the wire: the client decompresses the body it hands back.
    bytes += Number(response.headers()["content-length"]);
  }
  console.log(
    `first page: ${assets.length} scripts and styles, ${Math.round(bytes / 1024)} KiB gzipped`,
  );
  expect(bytes).toBeLessThanOrEqual(500 * 1000);
});

test("the console is usable with the keyboard alone", async ({ page }, info) => {
  const m = words(info);
  await page.goto("/sign-in");
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel(m.preferences.language)).toBeFocused();
  // From the address field, Tab reaches the password and the button; Enter signs in.
  await page.getByLabel(m.fields.email).focus();
  await page.keyboard.type(ADMIN.email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("navigation", { name: m.nav.label })).toBeVisible();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: m.nav.skip })).toBeFocused();
});
