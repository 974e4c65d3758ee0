// A member of one organization never sees another's: not in their list, not by its address.
import { expect, test } from "@playwright/test";
import { address, person, signIn, words } from "./support";

test("a member of one organization never sees another", async ({ page, baseURL }, info) => {
  const m = words(info);
  const ours = `Ours ${info.project.name}`;
  const theirs = `Theirs ${info.project.name}`;
  const me = await person(baseURL!, address(info, "member"), "Member");
  const other = await person(baseURL!, address(info, "stranger"), "Stranger");
  await me.call("POST", "/api/v1/organizations", { name: ours });
  const hidden = await other.call("POST", "/api/v1/organizations", { name: theirs });

  await signIn(page, m, me.email, me.password);
  await page
    .getByRole("navigation", { name: m.nav.label })
    .getByRole("link", { name: m.nav.organizations })
    .click();
  await expect(page.getByRole("link", { name: ours })).toBeVisible();
  await expect(page.getByText(theirs)).toHaveCount(0);

  // Its address shows nothing of it, members or teams.
  for (const tab of ["members", "teams", "invitations", "audit"]) {
    await page.goto(`/organizations/${hidden.id}/${tab}`);
    await expect(page.getByRole("alert")).toBeVisible();
    await expect(page.getByText(theirs)).toHaveCount(0);
    await expect(page.getByText(other.email)).toHaveCount(0);
  }
  await me.dispose();
  await other.dispose();
});
