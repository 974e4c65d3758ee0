// The admin sets up a vault for a service in a new organization: creates the vault and a
// service client, gives the client keys (a generated pair whose private key is shown once,
// and its own public keys as PEM and as a JWK), grants the client a role and changes it,
// takes a token for themself, revokes the vault's tokens so that it can be deleted, then
// revokes a key and disables and deletes the client.
import { expect, test } from "@playwright/test";
import { generateKeyPairSync } from "node:crypto";
import { ADMIN } from "./env.mjs";
import { adminApi, fill, signIn, words } from "./support";

// An Ed25519 public key whose private half nobody kept (openssl genpkey -algorithm ed25519).
const PUBLIC_KEY_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAKAtr4EII4hrUoq5jHdOn60hp4rMzOTfpvaaYNV2ztgc=
-----END PUBLIC KEY-----`;

test("a vault is granted to a service client with its keys, and its tokens revoked", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const v = m.organization.vaults;
  const g = m.organization.grants;
  const c = m.organization.clients;
  const k = m.organization.certificates;
  // The admin, rather than someone registered for it: registrations are limited per address.
  const admin = await adminApi(baseURL!);
  const org = await admin.call("POST", "/api/v1/organizations", {
    name: `Vaults ${info.project.name}`,
  });
  await signIn(page, m, ADMIN.email, ADMIN.password);
  await page.goto(`/organizations/${org.id}/vaults`);
  await expect(page.getByRole("tab", { name: m.organization.tabs.vaults })).toBeVisible();
  await expect(page.getByText(v.none)).toBeVisible();

  // A vault: its creator is its admin.
  await page.getByRole("button", { name: v.create }).click();
  let dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.fields.name).fill("payments");
  await dialog.getByLabel(m.fields.description).fill("Card data policies");
  await dialog.getByRole("button", { name: v.create }).click();
  await expect(page.getByRole("heading", { level: 2, name: "payments" })).toBeVisible();
  await expect(page.getByText(v.roles.admin, { exact: true }).first()).toBeVisible();

  // A service client, with the token endpoint and the organization's JWKS beside the list.
  await page.getByRole("tab", { name: m.organization.tabs.clients }).click();
  await expect(page.getByRole("textbox", { name: c.jwks })).toHaveValue(
    `${baseURL}/api/v1/organizations/${org.id}/jwks.json`,
  );
  await expect(page.getByRole("textbox", { name: c.tokenEndpoint })).toHaveValue(
    `${baseURL}/api/v1/token`,
  );
  await page.getByRole("button", { name: c.create }).click();
  dialog = page.getByRole("dialog");
  await dialog.getByLabel(m.fields.name).fill("billing-service");
  await dialog.getByRole("button", { name: c.create }).click();
  await expect(page.getByRole("heading", { level: 2, name: "billing-service" })).toBeVisible();
  await expect(page.getByText(k.none)).toBeVisible();

  // A pair made by Purser: the private key is shown once, to copy or download.
  const generate = page.getByRole("form", { name: k.generate });
  await generate.getByLabel(m.fields.name).fill("generated");
  await generate.getByRole("button", { name: k.generateSubmit }).click();
  dialog = page.getByRole("dialog");
  await expect(dialog.getByText(k.notStored)).toBeVisible();
  await expect(dialog.getByText("-----BEGIN PRIVATE KEY-----")).toBeVisible();
  const download = page.waitForEvent("download");
  await dialog.getByRole("button", { name: k.download }).click();
  expect((await download).suggestedFilename()).toBe("generated.pem");
  await dialog.getByRole("button", { name: k.saved }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByText("BEGIN PRIVATE KEY")).toHaveCount(0);

  // The client's own public keys: a PEM, and a JWK given as JSON.
  const register = page.getByRole("form", { name: k.register });
  await register.getByLabel(m.fields.name).fill("laptop");
  await register.getByLabel(k.publicKey).fill(PUBLIC_KEY_PEM);
  await register.getByRole("button", { name: k.registerSubmit }).click();
  await expect(page.getByText(fill(k.registered, { name: "laptop" }))).toBeVisible();
  const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  await register.getByLabel(m.fields.name).fill("as jwk");
  await register.getByLabel(k.publicKey).fill(JSON.stringify(jwk));
  await register.getByRole("button", { name: k.registerSubmit }).click();
  await expect(page.getByText(fill(k.registered, { name: "as jwk" }))).toBeVisible();
  const certificates = page.getByRole("grid", { name: k.title });
  await expect(certificates.getByRole("row")).toHaveCount(4);
  const laptop = certificates.getByRole("row").filter({ hasText: "laptop" });
  await expect(laptop.getByText(k.status.active)).toBeVisible();

  // The client gets writer on the vault, then reader.
  await page.getByRole("tab", { name: m.organization.tabs.vaults }).click();
  await page.getByRole("grid", { name: v.title }).getByRole("link", { name: "payments" }).click();
  const add = page.getByRole("form", { name: g.add });
  await add.getByLabel(g.kind).selectOption({ label: g.kinds.client });
  await add.getByLabel(g.kinds.client).selectOption({ label: "billing-service" });
  await add.getByLabel(m.fields.role).selectOption({ label: v.roles.writer });
  await add.getByRole("button", { name: g.submit }).click();
  const grants = page.getByRole("grid", { name: g.title });
  const role = grants.getByLabel(fill(g.roleOf, { name: "billing-service" }));
  await expect(role).toHaveValue("writer");
  await expect(
    grants.getByRole("row").filter({ hasText: "billing-service" }).getByText(g.kinds.client),
  ).toBeVisible();
  await expect(grants.getByRole("row").filter({ hasText: ADMIN.email })).toBeVisible();
  await role.selectOption({ label: v.roles.reader });
  await expect(role).toHaveValue("reader");
  await page.reload();
  await expect(role).toHaveValue("reader");

  // A token for the admin, shown once.
  const token = page.getByRole("form", { name: v.token.title });
  await token.getByLabel(v.token.role).selectOption({ label: v.roles.writer });
  await token.getByRole("button", { name: v.token.get }).click();
  await expect(page.getByRole("textbox", { name: v.token.access })).toHaveValue(
    /^[\w-]+\.[\w-]+\.[\w-]+$/,
  );
  await expect(page.getByRole("textbox", { name: v.token.refresh })).toHaveValue(/^pvr_/);

  // Its refresh token keeps the vault from being deleted until every token is revoked.
  await page.getByRole("button", { name: m.common.delete }).click();
  await page.getByRole("dialog").getByRole("button", { name: m.common.delete }).click();
  await expect(page.getByText(m.errors.codes.vault_has_tokens)).toBeVisible();
  await page.getByRole("button", { name: v.revokeTokens }).first().click();
  await page.getByRole("dialog").getByRole("button", { name: v.revokeTokens }).click();
  await expect(page.getByText(fill(v.revoked_one, { count: 1 }))).toBeVisible();
  await page.getByRole("button", { name: m.common.delete }).click();
  await page.getByRole("dialog").getByRole("button", { name: m.common.delete }).click();
  await expect(page.getByText(v.none)).toBeVisible();

  // The client: a key revoked, then the client disabled and deleted.
  await page.getByRole("tab", { name: m.organization.tabs.clients }).click();
  await page
    .getByRole("grid", { name: c.title })
    .getByRole("link", { name: "billing-service" })
    .click();
  await laptop.getByRole("button", { name: k.revoke }).click();
  await page.getByRole("dialog").getByRole("button", { name: k.revoke }).click();
  await expect(laptop.getByText(k.status.revoked)).toBeVisible();
  await expect(laptop.getByRole("button", { name: k.revoke })).toHaveCount(0);
  const jwks = await admin.call("GET", `/api/v1/organizations/${org.id}/jwks.json`);
  expect(jwks.keys).toHaveLength(2);

  await page.getByRole("button", { name: c.disable }).click();
  await page.getByRole("dialog").getByRole("button", { name: c.disable }).click();
  await expect(page.getByRole("button", { name: c.enable, exact: true })).toBeVisible();
  await expect(
    page.getByRole("heading", { level: 2, name: "billing-service" }).getByText(c.status.disabled),
  ).toBeVisible();
  await page.getByRole("button", { name: m.common.delete }).click();
  await page.getByRole("dialog").getByRole("button", { name: m.common.delete }).click();
  await expect(page.getByText(c.none)).toBeVisible();
  await admin.dispose();
});
