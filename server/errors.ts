/**
 * The error codes of the OCI distribution-spec (spec.md, "Error Codes"), with the HTTP status
 * each is sent with. `PAGINATION_NUMBER_INVALID` is the CNCF distribution registry's code for
 * a bad `n`, kept so clients written against it recognise the error; `UNKNOWN` is its code for
 * a server fault.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  PAGINATION_NUMBER_INVALID: 400,
  UNKNOWN: 500,
} as const;

/** One of the registry's error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options for {@linkcode RegistryHttpError}. */
export interface RegistryHttpErrorOptions extends ErrorOptions {
  /** The HTTP status, when it differs from the code's usual one (416, 413, 408). */
  status?: number;
  /** Machine-readable detail sent in the error body. */
  detail?: unknown;
  /** Extra response headers (`WWW-Authenticate`, `Range`, `Retry-After`). */
  headers?: Record<string, string>;
}

/**
 * A request the registry refuses, carrying the spec's error code; the app turns it into the
 * JSON error body `{"errors":[{"code","message","detail"}]}`.
 */
export class RegistryHttpError extends Error {
  /** The spec's error code. */
  readonly code: ErrorCode;
  /** The HTTP status sent. */
  readonly status: number;
  /** Detail sent in the body. */
  readonly detail: unknown;
  /** Extra response headers. */
  readonly headers: Record<string, string>;

  /** Builds the error; `message` is sent to the client, so it never holds a secret. */
  constructor(code: ErrorCode, message: string, options: RegistryHttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "RegistryHttpError";
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The error as an HTTP response with the spec's JSON body. */
  toResponse(): Response {
    const body = JSON.stringify({
      errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }],
    });
    return new Response(body, {
      status: this.status,
      headers: { "content-type": "application/json", ...this.headers },
    });
  }
}
