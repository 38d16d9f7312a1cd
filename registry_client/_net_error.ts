/**
 * Turning what `fetch` throws when a connection fails into a message a user can act on.
 * Both runtimes say only `fetch failed` at the top; the detail sits in `error.cause`:
 * Node (undici) puts a system error there with `code`, `syscall`, `address` and `port`
 * (an `AggregateError` of them when several addresses were tried), Deno an `Error` whose
 * message is hyper's and rustls's text (`tcp connect error: Connection refused (os error
 * 111)`, `dns error: ...`, `invalid peer certificate: UnknownIssuer`). Both are read here
 * and said the way Go's net package says it, as docker does.
 */

/** What a failed connection was, ready for {@linkcode ConnectionError}. */
export interface NetworkFailure {
  /** The host dialled, without brackets for IPv6. */
  hostname: string;
  /** The port dialled. */
  port: number;
  /** An errno name, a TLS code, or "". */
  code: string;
  /** Go-style text: `dial tcp 127.0.0.1:5399: connect: connection refused (ECONNREFUSED)`. */
  text: string;
  /** False when another try cannot help. */
  retryable: boolean;
}

// Linux errno numbers as Deno reports them (`os error 111`).
const ERRNO: Record<number, string> = {
  32: "EPIPE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

// Node's TLS verification codes, and what Go's crypto/x509 calls the same failure.
const NODE_TLS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "certificate signed by unknown authority (self-signed)",
  SELF_SIGNED_CERT_IN_CHAIN: "certificate signed by unknown authority (self-signed root)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate signed by unknown authority",
  UNABLE_TO_GET_ISSUER_CERT: "certificate signed by unknown authority",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate signed by unknown authority",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_SIGNATURE_FAILURE: "certificate signature is invalid",
  CERT_REVOKED: "certificate has been revoked",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate is not valid for HOST",
};

// rustls's `invalid peer certificate: <variant>` names (Deno).
const RUSTLS: Record<string, string> = {
  UnknownIssuer: "certificate signed by unknown authority",
  CaUsedAsEndEntity: "certificate signed by unknown authority (a self-signed CA certificate)",
  NotValidForName: "certificate is not valid for HOST",
  Expired: "certificate has expired",
  NotValidYet: "certificate is not yet valid",
  BadSignature: "certificate signature is invalid",
  Revoked: "certificate has been revoked",
  BadEncoding: "certificate is malformed",
};

interface Link {
  message: string;
  code?: string;
  address?: string;
  port?: number;
}

/** Every error in the cause chain, AggregateError members included, outermost first. */
function links(e: unknown): Link[] {
  const out: Link[] = [];
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length && out.length < 32) {
    const x = queue.shift();
    if (!x || typeof x !== "object" || seen.has(x)) continue;
    seen.add(x);
    const o = x as Record<string, unknown>;
    out.push({
      message: typeof o.message === "string" ? o.message : String(x),
      code: typeof o.code === "string" ? o.code : undefined,
      address: typeof o.address === "string" ? o.address : undefined,
      port: typeof o.port === "number" ? o.port : undefined,
    });
    if (Array.isArray(o.errors)) queue.push(...o.errors);
    queue.push(o.cause);
  }
  return out;
}

/** Deno's text for a failure, without the URL it repeats (which may carry a query). */
function denoText(message: string): string {
  return message.replace(/error sending request.*?\):\s*/i, "")
    .replace(/https?:\/\/[^\s)]+/g, (u) => u.replace(/[?#].*$/, ""));
}

/** The host and port `url` dials, and the two as Go writes them (`[::1]:443`). */
export function endpoint(url: URL): { hostname: string; port: number; hostPort: string } {
  const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    hostPort: `${url.hostname}:${port}`,
  };
}

/**
 * Describes why a request to `url` failed, from the error `fetch` threw. Never quotes
 * the URL's query or credentials: only host and port.
 */
export function describeNetworkError(e: unknown, url: URL): NetworkFailure {
  const { hostname, port, hostPort: hp } = endpoint(url);
  const all = links(e);
  const make = (code: string, text: string, retryable = true): NetworkFailure => ({
    hostname,
    port,
    code,
    text,
    retryable,
  });
  const system = (code: string): NetworkFailure | undefined => {
    switch (code) {
      case "ECONNREFUSED":
        return make(code, `dial tcp ${hp}: connect: connection refused (${code})`);
      case "ETIMEDOUT":
      case "UND_ERR_CONNECT_TIMEOUT":
        return make(code, `dial tcp ${hp}: i/o timeout (${code})`);
      case "EHOSTUNREACH":
        return make(code, `dial tcp ${hp}: connect: no route to host (${code})`);
      case "ENETUNREACH":
        return make(code, `dial tcp ${hp}: connect: network is unreachable (${code})`);
      case "EADDRNOTAVAIL":
        return make(code, `dial tcp ${hp}: connect: cannot assign requested address (${code})`);
      case "ENOTFOUND":
      case "EAI_NONAME":
      case "EAI_NODATA":
        return make(code, `dial tcp: lookup ${hostname}: no such host (${code})`, false);
      case "EAI_AGAIN":
        return make(
          code,
          `dial tcp: lookup ${hostname}: temporary failure in name resolution (${code})`,
        );
      case "ECONNRESET":
      case "ECONNABORTED":
      case "UND_ERR_SOCKET":
      case "UND_ERR_CLOSED":
        return make(code, `read tcp ${hp}: connection reset by peer (${code})`);
      case "EPIPE":
        return make(code, `write tcp ${hp}: broken pipe (${code})`);
    }
    const tls = NODE_TLS[code];
    if (tls) {
      return make(
        code,
        `tls: failed to verify certificate of ${hp}: x509: ${
          tls.replace("HOST", hostname)
        } (${code})`,
        false,
      );
    }
    if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "EPROTO") {
      return make(code, notTls(hp), false);
    }
    return undefined;
  };
  // Node: the first link with a code we know (system errors sit under "fetch failed").
  for (const l of all) {
    const found = l.code ? system(l.code) : undefined;
    if (found) return found;
  }
  // Deno: read the text of the innermost message that says something.
  const text = all.map((l) => l.message).join(" | ");
  const errno = /os error (\d+)/.exec(text);
  if (errno && ERRNO[Number(errno[1])]) return system(ERRNO[Number(errno[1])])!;
  if (
    /dns error|failed to lookup address|name or service not known|no address associated|nodename nor servname/i
      .test(text)
  ) {
    return system(/temporary failure/i.test(text) ? "EAI_AGAIN" : "ENOTFOUND")!;
  }
  const rustls = /invalid peer certificate:\s*(?:Other\(OtherError\()?(\w+)/.exec(text);
  if (rustls) {
    const what = RUSTLS[rustls[1]] ?? `certificate refused (${rustls[1]})`;
    return make(
      rustls[1],
      `tls: failed to verify certificate of ${hp}: x509: ${what.replace("HOST", hostname)}`,
      false,
    );
  }
  if (/InvalidContentType|corrupt message|wrong version number/i.test(text)) {
    return make("EPROTO", notTls(hp), false);
  }
  if (/connection refused/i.test(text)) return system("ECONNREFUSED")!;
  if (
    /connection reset|connection closed|broken pipe|unexpected eof|error reading a body|terminated/i
      .test(text)
  ) {
    return system("ECONNRESET")!;
  }
  if (/timed out/i.test(text)) return system("ETIMEDOUT")!;
  if (/port \d+ (are|is) blocked|bad port/i.test(text)) {
    return make("EBLOCKED", `port ${port} is blocked by the runtime's fetch`, false);
  }
  const inner = all.at(-1)?.message ?? String(e);
  return make("", `connecting to ${hp}: ${denoText(inner)}`);
}

function notTls(hp: string): string {
  return `tls: first record from ${hp} does not look like a TLS handshake (plain HTTP? use --insecure)`;
}
