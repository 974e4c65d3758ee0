// The platform admin's journey, and what a read-only admin finds: the same pages, no way
// to change anything.
import { expect, test } from "@playwright/test";
import { ADMIN, MOCK_PORT } from "./env.mjs";
import { address, adminApi, person, signIn, words } from "./support";

test("an admin adds a served model, approves access, limits a user and finds it audited", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const served = `served-${info.project.name}`;
  const gated = `gated-${info.project.name}`;
  await signIn(page, m, ADMIN.email, ADMIN.password);
  const nav = page.getByRole("navigation", { name: m.nav.label });

  // A model answered by a model server, and one that needs approval.
  await nav.getByRole("link", { name: m.nav.adminModels }).click();
  await page.getByRole("button", { name: m.admin.models.add }).click();
  let dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.fields.name).fill(served);
  await dialog.getByLabel(m.models.provider).fill("vllm");
  await dialog.getByLabel(m.admin.models.inputPrice).fill("0.000001");
  await dialog.getByLabel(m.admin.models.outputPrice).fill("0.000002");
  await dialog.getByRole("checkbox", { name: m.capabilities.chat }).check();
  await dialog.getByLabel(m.admin.deployments.url).fill(`http://127.0.0.1:${MOCK_PORT}/v1`);
  await dialog.getByRole("button", { name: m.admin.models.add }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole("gridcell", { name: served, exact: true })).toBeVisible();

  await page.getByRole("button", { name: m.admin.models.add }).click();
  dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.fields.name).fill(gated);
  await dialog.getByLabel(m.models.provider).fill("mock");
  await dialog.getByRole("checkbox", { name: m.admin.models.restricted }).check();
  await dialog.getByRole("button", { name: m.admin.models.add }).click();
  await expect(dialog).toBeHidden();

  // Someone asks for the gated model; the admin approves.
  const admin = await adminApi(baseURL!);
  const models = await admin.call("GET", `/api/v1/models?search=${gated}`);
  const asker = await person(baseURL!, address(info, "asker"), `Asker ${info.project.name}`);
  await asker.call("POST", "/api/v1/subscriptions", { modelId: models.data[0].id });
  await nav.getByRole("link", { name: m.nav.adminSubscriptions }).click();
  const request = page.getByRole("row").filter({ hasText: gated });
  await request.getByRole("button", { name: m.admin.subscriptions.approve }).click();
  await expect(request).toHaveCount(0);
  const mine = await asker.call("GET", "/api/v1/subscriptions");
  expect(mine.data[0].status).toBe("active");

  // The admin limits that person's requests per minute.
  await nav.getByRole("link", { name: m.nav.adminUsers }).click();
  await page.getByRole("textbox", { name: m.admin.users.search }).fill(asker.email);
  const row = page.getByRole("row").filter({ hasText: asker.email });
  await row.getByRole("button", { name: m.admin.users.limits }).click();
  dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.limits.rpm).fill("30");
  await dialog.getByRole("button", { name: m.common.save }).click();
  await expect(dialog).toBeHidden();
  expect((await admin.call("GET", `/api/v1/users/${asker.id}/limits`)).rpmLimit).toBe(30);

  // And finds the change in the audit log.
  await nav.getByRole("link", { name: m.nav.adminAudit }).click();
  await page.getByLabel(m.admin.audit.action).fill("user.limits");
  await page.getByRole("button", { name: m.admin.audit.apply }).click();
  await expect(page.getByRole("gridcell", { name: "user.limits" }).first()).toBeVisible();
  await admin.dispose();
  await asker.dispose();
});

test("a read-only admin sees every admin page and no control that changes anything", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const reader = await person(baseURL!, address(info, "reader"), "Reader");
  const admin = await adminApi(baseURL!);
  await admin.call("PATCH", `/api/v1/users/${reader.id}`, { role: "adminReadonly" });
  await signIn(page, m, reader.email, reader.password);
  const nav = page.getByRole("navigation", { name: m.nav.label });
  const writes = [
    m.admin.models.add,
    m.admin.deployments.add,
    m.common.edit,
    m.common.delete,
    m.common.remove,
    m.admin.subscriptions.approve,
    m.admin.subscriptions.deny,
    m.admin.organizations.suspend,
    m.admin.organizations.resume,
    m.admin.organizations.quotas,
  ];
  for (const [label, title] of [
    [m.nav.adminModels, m.admin.models.title],
    [m.nav.adminSubscriptions, m.admin.subscriptions.title],
    [m.nav.adminUsers, m.admin.users.title],
    [m.nav.adminOrganizations, m.admin.organizations.title],
    [m.nav.adminAudit, m.admin.audit.title],
  ]) {
    await nav.getByRole("link", { name: label, exact: true }).click();
    await expect(page.getByRole("heading", { level: 1, name: title })).toBeVisible();
    await page.waitForLoadState("networkidle");
    // The audit log has nothing to change for anyone; the other pages say why nothing can be.
    if (label !== m.nav.adminAudit) await expect(page.getByText(m.common.readOnly)).toBeVisible();
    for (const write of writes) {
      await expect(
        page.getByRole("button", { name: write, exact: true }),
        `${label}: ${write}`,
      ).toHaveCount(0);
    }
  }
  await admin.dispose();
  await reader.dispose();
});
