// A real RFC 3161 time-stamping authority for the end-to-end suite: `openssl ts -reply`
// behind a small HTTP server, signing with a certificate from a test CA made for the run.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const openssl = (dir, args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** Makes the CA and the authority's certificate in `dir`; returns the CA file Purser trusts. */
function makeAuthority(dir) {
  mkdirSync(dir, { recursive: true });
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=Purser e2e CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  writeFileSync(
    join(dir, "tsa-ext.cnf"),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
  );
  openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "tsa.key",
    "-out",
    "tsa.csr",
    "-subj",
    "/CN=Purser e2e TSA",
  ]);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    "tsa.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "tsa.crt",
    "-days",
    "2",
    "-extfile",
    "tsa-ext.cnf",
  ]);
  writeFileSync(join(dir, "serial"), "01\n");
  writeFileSync(
    join(dir, "tsa.cnf"),
    [
      "[ tsa ]",
      "default_tsa = tsa_config",
      "[ tsa_config ]",
      `dir = ${dir}`,
      "serial = $dir/serial",
      "crypto_device = builtin",
      "signer_cert = $dir/tsa.crt",
      "signer_key = $dir/tsa.key",
      "signer_digest = sha256",
      "default_policy = 1.3.6.1.4.1.4146.2.3",
      "digests = sha256",
      "accuracy = secs:1",
      "ess_cert_id_alg = sha256",
      "",
    ].join("\n"),
  );
  return join(dir, "ca.crt");
}

/** Starts the authority on `port`; returns its URL and the CA file. */
export function startTsa(dir, port) {
  const caFile = makeAuthority(dir);
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      try {
        writeFileSync(join(dir, "query.tsq"), Buffer.concat(chunks));
        openssl(dir, [
          "ts",
          "-reply",
          "-config",
          "tsa.cnf",
          "-queryfile",
          "query.tsq",
          "-out",
          "reply.tsr",
        ]);
        response.writeHead(200, { "content-type": "application/timestamp-reply" });
        response.end(readFileSync(join(dir, "reply.tsr")));
      } catch (error) {
        response.writeHead(400);
        response.end(String(error));
      }
    });
  });
  server.listen(port, "127.0.0.1");
  return { url: `http://127.0.0.1:${port}/`, caFile, server };
}
