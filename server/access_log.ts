/** One request as the access log records it. */
export interface AccessLogEntry {
  /** When the request arrived. */
  time: Date;
  /** The client's address, when known. */
  remote?: string;
  /** The authenticated user, when any. */
  user?: string;
  /** HTTP method. */
  method: string;
  /** Path and query as requested. */
  target: string;
  /** Response status. */
  status: number;
  /** Response body bytes sent. */
  bytes: number;
  /** From arrival to the last body byte, in ms. */
  ms: number;
  /** The client's User-Agent. */
  userAgent?: string;
  /** For failures: the spec error code, or a server fault's message. */
  error?: string;
}

function quote(text: string | undefined): string {
  if (!text) return "-";
  // Control characters would let a client forge log lines.
  // deno-lint-ignore no-control-regex
  return `"${text.replace(/[\\"]/g, (c) => "\\" + c).replace(/[\x00-\x1f\x7f]/g, "?")}"`;
}

/**
 * Formats one access-log line, close to the Common Log Format, plus duration and error:
 * `127.0.0.1 alice [2024-05-01T10:00:00.000Z] "GET /v2/" 200 2 "curl/8" 1.2ms`. Request
 * headers other than User-Agent are never logged, so no credential reaches a log.
 */
export function formatAccessLog(e: AccessLogEntry): string {
  const parts = [
    e.remote ?? "-",
    e.user ? quote(e.user).slice(1, -1).replace(/\s/g, "_") : "-",
    `[${e.time.toISOString()}]`,
    quote(`${e.method} ${e.target}`),
    String(e.status),
    String(e.bytes),
    quote(e.userAgent),
    `${e.ms.toFixed(1)}ms`,
  ];
  if (e.error) parts.push(`error=${quote(e.error)}`);
  return parts.join(" ");
}
