// The links Purser mails open their pages and do what they say: a password reset, once,
// and an invitation accepted by someone who has to sign in first.
import { expect, test } from "@playwright/test";
import { address, mailedLink, person, signIn, words } from "./support";

test("a forgotten password is replaced through the mailed link, once", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const someone = await person(baseURL!, address(info, "forgetful"), "Forgetful");
  await someone.dispose();

  await page.goto("/sign-in");
  await page.getByRole("link", { name: m.signIn.forgot }).click();
  await page.getByLabel(m.fields.email).fill(someone.email);
  await page.getByRole("button", { name: m.forgot.submit }).click();
  await expect(page.getByText(m.forgot.sent)).toBeVisible();

  const link = await mailedLink(someone.email, "/reset-password");
  const fresh = "a brand new passphrase 42";
  await page.goto(link);
  await expect(page.getByRole("heading", { name: m.reset.title })).toBeVisible();
  await page.getByLabel(m.fields.newPassword).fill(fresh);
  await page.getByRole("button", { name: m.reset.submit }).click();
  await expect(page.getByText(m.reset.done)).toBeVisible();

  // The link is spent: a second use is refused with a message, and changes nothing.
  await page.goto(link);
  await page.getByLabel(m.fields.newPassword).fill("yet another passphrase 7");
  await page.getByRole("button", { name: m.reset.submit }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(page.getByText(m.reset.done)).toHaveCount(0);

  await signIn(page, m, someone.email, fresh);
});

test("an invitation's mailed link leads through sign-in into the organization", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const orgName = `Invited ${info.project.name}`;
  const owner = await person(baseURL!, address(info, "inviter"), "Inviter");
  const guest = await person(baseURL!, address(info, "guest"), "Guest");
  await guest.dispose();
  const org = await owner.call("POST", "/api/v1/organizations", { name: orgName });
  await owner.call("POST", `/api/v1/organizations/${org.id}/invitations`, {
    email: guest.email,
    role: "member",
  });
  await owner.dispose();

  // Signed out, the page asks to sign in first and comes back after.
  await page.goto(await mailedLink(guest.email, "/invitations/accept"));
  await expect(page.getByRole("heading", { name: m.invitation.title })).toBeVisible();
  await page.getByRole("link", { name: m.invitation.signIn }).click();
  await page.getByLabel(m.fields.email).fill(guest.email);
  await page.getByLabel(m.fields.password).fill(guest.password);
  await page.getByRole("button", { name: m.signIn.submit }).click();

  await page.getByRole("button", { name: m.invitation.submit }).click();
  await expect(page.getByText(m.invitation.done)).toBeVisible();
  await page.getByRole("link", { name: m.invitation.open }).click();
  await expect(page.getByRole("heading", { name: orgName })).toBeVisible();
  await expect(page.getByRole("tab", { name: m.organization.tabs.members })).toBeVisible();
});
