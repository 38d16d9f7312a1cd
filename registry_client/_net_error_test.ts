// The errors below have the shapes Deno 2.9 and Node 20 really throw from fetch (recorded
// from both), so each runtime's reading is checked whichever runtime runs the tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeNetworkError, endpoint } from "./_net_error.ts";

function fetchFailed(cause: unknown): TypeError {
  return new TypeError("fetch failed", { cause });
}

function nodeSystemError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

const url = new URL("http://127.0.0.1:5399/v2/");

test("a refused connection reads like Go's dial error on both runtimes", () => {
  const deno = fetchFailed(
    new Error(
      "error sending request for url (http://127.0.0.1:5399/v2/): client error (Connect): " +
        "tcp connect error: Connection refused (os error 111)",
    ),
  );
  const node = fetchFailed(nodeSystemError("connect ECONNREFUSED 127.0.0.1:5399", {
    code: "ECONNREFUSED",
    errno: -111,
    syscall: "connect",
    address: "127.0.0.1",
    port: 5399,
  }));
  for (const e of [deno, node]) {
    const f = describeNetworkError(e, url);
    assert.equal(f.text, "dial tcp 127.0.0.1:5399: connect: connection refused (ECONNREFUSED)");
    assert.deepEqual([f.hostname, f.port, f.code, f.retryable], [
      "127.0.0.1",
      5399,
      "ECONNREFUSED",
      true,
    ]);
  }
});

test("Node's AggregateError of several addresses is walked to the system errors", () => {
  const refused = (address: string) =>
    nodeSystemError(`connect ECONNREFUSED ${address}:5399`, {
      code: "ECONNREFUSED",
      address,
      port: 5399,
    });
  const aggregate = Object.assign(new AggregateError([refused("::1"), refused("127.0.0.1")]), {
    code: "ECONNREFUSED",
  });
  const f = describeNetworkError(fetchFailed(aggregate), new URL("http://localhost:5399/v2/"));
  assert.equal(f.text, "dial tcp localhost:5399: connect: connection refused (ECONNREFUSED)");
});

test("a name that does not resolve is 'no such host' and not worth retrying", () => {
  const u = new URL("https://registry.invalid/v2/");
  const deno = fetchFailed(
    new Error(
      "error sending request for url (https://registry.invalid/v2/): client error (Connect): " +
        "dns error: failed to lookup address information: Name or service not known",
    ),
  );
  const node = fetchFailed(nodeSystemError("getaddrinfo ENOTFOUND registry.invalid", {
    code: "ENOTFOUND",
    errno: -3008,
    syscall: "getaddrinfo",
    hostname: "registry.invalid",
  }));
  for (const e of [deno, node]) {
    const f = describeNetworkError(e, u);
    assert.equal(f.text, "dial tcp: lookup registry.invalid: no such host (ENOTFOUND)");
    assert.equal(f.port, 443);
    assert.equal(f.retryable, false);
  }
  const again = describeNetworkError(
    fetchFailed(nodeSystemError("getaddrinfo EAI_AGAIN registry.invalid", { code: "EAI_AGAIN" })),
    u,
  );
  assert.match(again.text, /temporary failure in name resolution/);
  assert.equal(again.retryable, true);
});

test("certificate errors are named and not retried", () => {
  const u = new URL("https://reg.example:5443/v2/");
  const cases: [unknown, RegExp][] = [
    [
      fetchFailed(nodeSystemError("self-signed certificate", {
        code: "DEPTH_ZERO_SELF_SIGNED_CERT",
      })),
      /^tls: failed to verify certificate of reg\.example:5443: x509: certificate signed by unknown authority \(self-signed\) \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/,
    ],
    [
      fetchFailed(nodeSystemError("Hostname/IP does not match certificate's altnames", {
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
      })),
      /x509: certificate is not valid for reg\.example/,
    ],
    [
      fetchFailed(
        new Error(
          "error sending request for url (https://reg.example:5443/v2/): client error " +
            "(Connect): invalid peer certificate: UnknownIssuer",
        ),
      ),
      /x509: certificate signed by unknown authority$/,
    ],
    [
      fetchFailed(
        new Error(
          "error sending request for url (https://reg.example:5443/v2/): client error " +
            "(Connect): invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
        ),
      ),
      /x509: certificate signed by unknown authority \(a self-signed CA certificate\)$/,
    ],
    [
      fetchFailed(
        new Error(
          "error sending request for url (https://reg.example:5443/v2/): client error " +
            "(Connect): invalid peer certificate: Expired",
        ),
      ),
      /x509: certificate has expired$/,
    ],
    [
      fetchFailed(nodeSystemError("wrong version number", {
        code: "ERR_SSL_WRONG_VERSION_NUMBER",
      })),
      /does not look like a TLS handshake \(plain HTTP\? use --insecure\)/,
    ],
  ];
  for (const [e, want] of cases) {
    const f = describeNetworkError(e, u);
    assert.match(f.text, want);
    assert.equal(f.retryable, false, f.text);
  }
});

test("a body cut mid-way reads as a reset on both runtimes", () => {
  const deno = new TypeError("error reading a body from connection");
  const node = new TypeError("terminated", {
    cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
  });
  for (const e of [deno, node]) {
    const f = describeNetworkError(e, url);
    assert.match(f.text, /^read tcp 127\.0\.0\.1:5399: connection reset by peer/);
    assert.equal(f.retryable, true);
  }
});

test("a connection closed before the answer is a reset, and retryable", () => {
  const deno = fetchFailed(
    new Error(
      "error sending request from 127.0.0.1:33692 for http://127.0.0.1:5399/v2/x/blobs/" +
        "uploads/u1?_state=SECRET (127.0.0.1:5399): client error (SendRequest): " +
        "connection closed before message completed",
    ),
  );
  const node = fetchFailed(
    Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
  );
  for (const e of [deno, node]) {
    const f = describeNetworkError(e, url);
    assert.match(f.text, /^read tcp 127\.0\.0\.1:5399: connection reset by peer/);
    assert.equal(f.retryable, true);
    assert.doesNotMatch(f.text, /SECRET/);
  }
});

test("an unknown failure keeps the runtime's words without the URL's query", () => {
  const f = describeNetworkError(
    fetchFailed(
      new Error(
        "error sending request for url (http://127.0.0.1:5399/v2/?_state=SECRET): something odd",
      ),
    ),
    url,
  );
  assert.equal(f.text, "connecting to 127.0.0.1:5399: something odd");
  assert.equal(f.code, "");
  const plain = describeNetworkError(new TypeError("weird http://h/x?token=SECRET"), url);
  assert.doesNotMatch(plain.text, /SECRET/);
});

test("endpoint() fills in the scheme's port and keeps IPv6 brackets for host:port", () => {
  assert.deepEqual(endpoint(new URL("https://[::1]/v2/")), {
    hostname: "::1",
    port: 443,
    hostPort: "[::1]:443",
  });
  assert.equal(endpoint(new URL("http://reg:5000/")).hostPort, "reg:5000");
});
