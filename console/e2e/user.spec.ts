// A new user's whole journey: register, verify from the mail, sign in, subscribe, create a
// key, get an answer in the playground, and find its tokens in the usage.
import { expect, test } from "@playwright/test";
import { address, adminApi, signUp, words } from "./support";

test("a new user goes from registering to their first metered answer", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const model = `chat-${info.project.name}`;
  const admin = await adminApi(baseURL!);
  await admin.call("POST", "/api/v1/admin/models", {
    name: model,
    provider: "mock",
    description: "Answers with canned text",
    inputCostPerToken: "0.000001",
    outputCostPerToken: "0.000002",
    contextLength: 8192,
    capabilities: ["chat"],
  });
  await admin.dispose();

  await signUp(page, m, address(info, "ada"), "Ada");

  await page.getByRole("link", { name: m.nav.models, exact: true }).click();
  await page.getByRole("textbox", { name: m.models.search }).fill(model);
  await page.getByRole("link", { name: model }).click();
  await page.getByRole("button", { name: m.models.subscribe }).click();
  await expect(page.getByText(m.subscriptionStatus.active)).toBeVisible();

  await page.getByRole("link", { name: m.nav.apiKeys }).click();
  await page.getByRole("button", { name: m.apiKeys.create }).first().click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.fields.name).fill("laptop");
  await dialog.getByRole("checkbox", { name: model }).check();
  await dialog.getByRole("button", { name: m.apiKeys.create }).click();
  await expect(dialog.getByText(m.apiKeys.onlyOnce)).toBeVisible();
  const secret = await dialog.getByRole("textbox", { name: m.apiKeys.secret }).inputValue();
  expect(secret).toMatch(/^sk-prs-/);
  await dialog.getByRole("button", { name: m.apiKeys.saved }).click();
  await expect(page.getByRole("gridcell", { name: "laptop" })).toBeVisible();

  await page.getByRole("link", { name: m.nav.playground }).click();
  await page.getByLabel(m.fields.model).selectOption(model);
  await page.getByLabel(m.playground.key).fill(secret);
  await page.getByLabel(m.playground.message).fill("Hello there");
  await page.getByRole("button", { name: m.playground.send }).click();
  const conversation = page.getByRole("log", { name: m.playground.conversation });
  await expect(conversation.getByText(/built-in mock provider/)).toBeVisible();
  await expect(conversation.getByText(/\$/)).toBeVisible();

  // Usage is written in the background, within a second or so.
  await page.getByRole("link", { name: m.nav.usage }).click();
  await expect(async () => {
    await page.reload();
    const requests = page.getByRole("grid", { name: m.usage.requestsTable });
    await expect(requests.getByRole("gridcell", { name: model })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
});
