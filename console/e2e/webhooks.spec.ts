// An admin adds a webhook to a receiver the test runs, keeps its secret, and sees an
// uploaded document's event delivered in the log, signed with that secret.
import { expect, test } from "@playwright/test";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { address, person, signIn, words } from "./support";

test("a webhook receives signed events and logs its deliveries", async ({
  page,
  baseURL,
}, info) => {
  const m = words(info);
  const w = m.organization.webhooks;
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const owner = await person(baseURL!, address(info, "hooked"), "Hooked");
  const org = await owner.call("POST", "/api/v1/organizations", {
    name: `Hooks ${info.project.name}`,
  });
  await signIn(page, m, owner.email, owner.password);
  await page.goto(`/organizations/${org.id}/webhooks`);
  await page.getByLabel(w.url).fill(url);
  await page.getByRole("button", { name: w.add }).click();
  const secret = await page.getByRole("textbox", { name: w.secret }).inputValue();
  expect(secret).toMatch(/^whsec_/);
  await expect(page.getByRole("grid", { name: w.title }).getByText(url)).toBeVisible();

  // An upload makes the event the webhook asked for.
  await page.getByRole("tab", { name: m.organization.tabs.documents }).click();
  await page
    .getByTestId("document-files")
    .setInputFiles({ name: "note.txt", mimeType: "text/plain", buffer: Buffer.from("a note") });
  await expect(
    page.getByText(m.organization.documents.uploaded.replace("{{name}}", "note.txt")),
  ).toBeVisible();
  await expect.poll(() => received.length, { timeout: 15_000 }).toBeGreaterThan(0);
  const { headers, body } = received[0]!;
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = `v1,${createHmac("sha256", secret).update(signed).digest("base64")}`;
  expect(headers["webhook-signature"]).toBe(expected);
  expect(JSON.parse(body).type).toBe("document.uploaded");

  await page.getByRole("tab", { name: m.organization.tabs.webhooks }).click();
  await page.getByRole("button", { name: w.showLog }).click();
  const log = page.getByRole("grid", { name: w.log.replace("{{url}}", url) });
  await expect(log.getByText(w.statuses.delivered)).toBeVisible({ timeout: 10_000 });
  receiver.close();
  await owner.dispose();
});
