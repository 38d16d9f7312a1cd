/** One entry of a registry's error body (OCI distribution-spec "Error Codes"). */
export interface RegistryErrorDetail {
  /** The spec code, e.g. `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `UNAUTHORIZED`. */
  code: string;
  /** The registry's message. */
  message?: string;
}

/**
 * A registry answered with an error status. `status` is the HTTP status and `codes` the
 * spec error codes from the body, so callers can tell "not found" from "denied".
 * Messages name the operation and the URL without its query, and never a credential.
 */
export class RegistryError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The spec error codes from the response body, if it had any. */
  readonly codes: string[];
  /** Builds the error; `what` says what could not be done. */
  constructor(
    what: string,
    status: number,
    details: RegistryErrorDetail[] = [],
    options?: ErrorOptions,
  ) {
    const reason = details.length
      ? details.map((d) => d.message ? `${d.code}: ${d.message}` : d.code).join("; ")
      : `HTTP ${status}`;
    super(`${what}: ${reason}`, options);
    this.name = "RegistryError";
    this.status = status;
    this.codes = details.map((d) => d.code);
  }
}

/** The registry refused the credentials, or the token server gave no token. */
export class AuthenticationError extends Error {
  /** The registry host. */
  readonly host: string;
  /** Builds the error for `host`; `reason` must not contain the credential. */
  constructor(host: string, reason: string, options?: ErrorOptions) {
    super(`Cannot authenticate to ${host}: ${reason}`, options);
    this.name = "AuthenticationError";
    this.host = host;
  }
}

/**
 * A registry could not be reached or the connection broke before an answer: refused,
 * reset, timed out, stalled, a name that does not resolve, a certificate that does not
 * verify. `status` is 0. The message reads like Go's net errors, which registry users know
 * from docker: `GET http://127.0.0.1:5399/v2/: dial tcp 127.0.0.1:5399: connect: connection
 * refused (ECONNREFUSED)`. URLs in it carry no query string (upload URLs hold state tokens).
 */
export class ConnectionError extends RegistryError {
  /** The host name or address that was dialled. */
  readonly hostname: string;
  /** The port that was dialled. */
  readonly port: number;
  /**
   * What went wrong: an errno name (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, `ECONNRESET`),
   * a TLS verification code (`DEPTH_ZERO_SELF_SIGNED_CERT`, `UnknownIssuer`), or `""`.
   */
  readonly code: string;
  /** False when trying again cannot help: no such host, a certificate refused, a blocked port. */
  readonly retryable: boolean;
  /** Builds the error; `what` names the request, `detail` what the network said. */
  constructor(
    what: string,
    detail: { hostname: string; port: number; code: string; text: string; retryable: boolean },
    options?: ErrorOptions,
  ) {
    super(what, 0, [], options);
    this.name = "ConnectionError";
    this.message = `${what}: ${detail.text}`;
    this.hostname = detail.hostname;
    this.port = detail.port;
    this.code = detail.code;
    this.retryable = detail.retryable;
  }
}
