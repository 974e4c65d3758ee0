// An organization's documents: upload by choosing files (the drop zone's input) with the
// same bytes twice, find one by name, download it, time-stamp it (by a real authority
// that e2e/serve.mjs runs), make a time-limited link that works signed out, rename,
// delete, and remove the file no document uses any more.
import { expect, request, test } from "@playwright/test";
import { address, fill, person, signIn, words } from "./support";

test("documents are uploaded once, found, shared by a link, renamed and deleted", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const d = m.organization.documents;
  const owner = await person(baseURL!, address(info, "archivist"), "Archivist");
  const org = await owner.call("POST", "/api/v1/organizations", {
    name: `Archive ${info.project.name}`,
  });
  await signIn(page, m, owner.email, owner.password);
  await page.goto(`/organizations/${org.id}/documents`);
  await expect(page.getByRole("tab", { name: m.organization.tabs.documents })).toBeVisible();

  const bytes = Buffer.from("region,revenue\nnorth,42\nsouth,17\n");
  const files = page.getByTestId("document-files");
  await files.setInputFiles({ name: "figures.csv", mimeType: "text/csv", buffer: bytes });
  await expect(page.getByText(fill(d.uploaded, { name: "figures.csv" }))).toBeVisible();
  await files.setInputFiles({ name: "copy.csv", mimeType: "text/csv", buffer: bytes });
  await expect(page.getByText(fill(d.uploadedSame, { name: "copy.csv" }))).toBeVisible();
  // A file that is not what it says is refused with the reason.
  await files.setInputFiles({
    name: "fake.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("not a pdf"),
  });
  await expect(page.getByText(`fake.pdf: ${m.errors.codes.content_type_mismatch}`)).toBeVisible();

  const table = page.getByRole("grid", { name: d.title });
  await expect(table.getByRole("link", { name: "figures.csv" })).toBeVisible();
  await page.getByRole("textbox", { name: d.search }).fill("copy");
  await expect(table.getByRole("link", { name: "figures.csv" })).toHaveCount(0);
  await expect(table.getByRole("link", { name: "copy.csv" })).toBeVisible();
  await page.getByRole("textbox", { name: d.search }).fill("");

  // Downloading through the console.
  const download = page.waitForEvent("download");
  await table.getByRole("link", { name: "figures.csv" }).click();
  expect((await download).suggestedFilename()).toBe("figures.csv");

  // A link that works without signing in.
  const row = table.getByRole("row").filter({ hasText: "figures.csv" });
  await row.getByRole("button", { name: d.share }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: d.makeLink }).click();
  const link = await dialog.getByRole("textbox", { name: d.link }).inputValue();
  const stranger = await request.newContext();
  const fetched = await stranger.get(link);
  expect(fetched.status()).toBe(200);
  expect(await fetched.body()).toEqual(bytes);
  await stranger.dispose();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);

  // Trusted timestamps: on demand (both documents name the same bytes, so both are
  // stamped), then every upload once the owner turns it on.
  const stamped = table.getByRole("row").filter({ hasText: "figures.csv" });
  await stamped.getByRole("button", { name: d.stamp }).click();
  await expect(stamped.getByText(d.timestamped)).toBeVisible();
  await expect(
    table.getByRole("row").filter({ hasText: "copy.csv" }).getByText(d.timestamped),
  ).toBeVisible();
  const reply = page.waitForEvent("download");
  await stamped.getByRole("link", { name: d.timestamped }).click();
  expect((await reply).suggestedFilename()).toBe("figures.csv.tsr");
  await page.getByRole("tab", { name: m.organization.tabs.settings }).click();
  // The switch is enabled once the page knows the server has an authority (the storage
  // query); its own track covers its input: click its label, as people do.
  await expect(page.getByLabel(m.organization.settings.timestampUploads)).toBeEnabled();
  await page.getByText(m.organization.settings.timestampUploads, { exact: true }).click();
  await expect(page.getByLabel(m.organization.settings.timestampUploads)).toBeChecked();
  await page.getByRole("tab", { name: m.organization.tabs.documents }).click();
  await page
    .getByTestId("document-files")
    .setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("minutes\n") });
  await expect(
    table.getByRole("row").filter({ hasText: "notes.txt" }).getByText(d.timestamped),
  ).toBeVisible();

  // Renaming and deleting.
  await row.getByRole("button", { name: d.rename }).click();
  await page.getByRole("dialog").getByLabel(m.fields.name).fill("regions.csv");
  await page.getByRole("dialog").getByRole("button", { name: m.common.save }).click();
  await expect(table.getByRole("link", { name: "regions.csv" })).toBeVisible();
  for (const name of ["regions.csv", "copy.csv", "notes.txt"]) {
    await table
      .getByRole("row")
      .filter({ hasText: name })
      .getByRole("button", { name: m.common.delete })
      .click();
    await page.getByRole("dialog").getByRole("button", { name: m.common.delete }).click();
    await expect(table.getByRole("link", { name })).toHaveCount(0);
  }
  await expect(page.getByText(d.none, { exact: true })).toBeVisible();
  // The file they named is now unused: the admin removes it at once.
  await page.reload();
  await page.getByRole("button", { name: d.cleanNow }).click();
  await page.getByRole("dialog").getByRole("button", { name: d.cleanNow }).click();
  await expect(page.getByRole("button", { name: d.cleanNow })).toHaveCount(0);
  await owner.dispose();
});
