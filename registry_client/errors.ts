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
