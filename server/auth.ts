import {
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
} from "node:crypto";
import { RegistryHttpError } from "./errors.ts";
import type { Htpasswd } from "./htpasswd.ts";

/** What a request does to a repository, in the token-auth spec's words. */
export type Action = "pull" | "push" | "delete";

/** What a request needs: actions on a repository, or the catalog. */
export type Scope =
  | { type: "repository"; name: string; actions: Action[] }
  | { type: "registry"; name: "catalog"; actions: ["*"] };

/**
 * Decides which actions `user` (undefined when anonymous) may take on `repository`
 * (undefined for the catalog, where any non-empty answer grants listing).
 */
export type AccessPolicy = (user: string | undefined, repository: string | undefined) => Action[];

/** Every authenticated user may do everything; anonymous users nothing. */
export function defaultPolicy(user: string | undefined): Action[] {
  return user === undefined ? [] : ["pull", "push", "delete"];
}

/** Checks requests to the registry; built by {@linkcode basicAuth} or {@linkcode tokenAuth}. */
export interface Authenticator {
  /**
   * Returns the user name (undefined for anonymous access) when `request` may act within
   * `scope`; throws a `RegistryHttpError` (401 with a challenge, or 403) when not.
   */
  authorize(request: Request, scope: Scope | undefined): Promise<string | undefined>;
  /** Answers the token endpoint, for token auth. */
  token?(request: Request): Promise<Response>;
  /** The token endpoint's path. */
  readonly tokenPath?: string;
}

function scopeText(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}

function basicCredentials(request: Request): { user: string; password: string } | undefined {
  const header = request.headers.get("authorization") ?? "";
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function allowed(granted: readonly string[], scope: Scope): boolean {
  if (scope.type === "registry") return granted.length > 0;
  return scope.actions.every((a) => granted.includes(a) || granted.includes("*"));
}

/** Options for {@linkcode basicAuth}. */
export interface BasicAuthOptions {
  /** Who may do what. @default {defaultPolicy} */
  policy?: AccessPolicy;
  /** The realm in the challenge. @default {"stratum"} */
  realm?: string;
}

/** HTTP Basic authentication against an htpasswd file (bcrypt), as the CNCF registry does. */
export function basicAuth(users: Htpasswd, options: BasicAuthOptions = {}): Authenticator {
  const policy = options.policy ?? defaultPolicy;
  const challenge = { "www-authenticate": `Basic realm="${options.realm ?? "stratum"}"` };
  return {
    async authorize(request, scope) {
      const creds = basicCredentials(request);
      let user: string | undefined;
      if (creds) {
        if (!(await users.verify(creds.user, creds.password))) {
          throw new RegistryHttpError("UNAUTHORIZED", "authentication required", {
            headers: challenge,
          });
        }
        user = creds.user;
      }
      if (!scope) {
        if (user === undefined && policy(undefined, undefined).length === 0) {
          throw new RegistryHttpError("UNAUTHORIZED", "authentication required", {
            headers: challenge,
          });
        }
        return user;
      }
      const granted = policy(user, scope.type === "repository" ? scope.name : undefined);
      if (allowed(granted, scope)) return user;
      if (user === undefined) {
        throw new RegistryHttpError("UNAUTHORIZED", "authentication required", {
          headers: challenge,
          detail: [{ Type: scope.type, Name: scope.name, Action: scope.actions.join(",") }],
        });
      }
      throw new RegistryHttpError("DENIED", `access to ${scopeText(scope)} denied`);
    },
  };
}

/** Options for {@linkcode tokenAuth}. */
export interface TokenAuthOptions {
  /** Who may do what; tokens carry only what it grants. @default {defaultPolicy} */
  policy?: AccessPolicy;
  /** The `service` (token audience). @default {"stratum-registry"} */
  service?: string;
  /** The token issuer. @default {"stratum-token-issuer"} */
  issuer?: string;
  /** Token lifetime in seconds. @default {300} */
  expiresIn?: number;
  /** The token endpoint's path on this server. @default {"/token"} */
  path?: string;
  /** An EC P-256 private key; one is generated when left out. */
  privateKey?: KeyObject;
  /** Clock in ms, for tests. @default {Date.now} */
  now?: () => number;
}

interface Claims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: { type: string; name: string; actions: string[] }[];
}

function b64url(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let text = "";
  for (const b of data) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text: string): Uint8Array {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** Parses `repository:name:pull,push` scopes from the token request (several may be given). */
function parseScopes(values: string[]): Scope[] {
  const scopes: Scope[] = [];
  for (const value of values) {
    for (const item of value.split(" ")) {
      if (!item) continue;
      const first = item.indexOf(":");
      const last = item.lastIndexOf(":");
      if (first < 0 || last === first) continue;
      const type = item.slice(0, first);
      const name = item.slice(first + 1, last);
      const actions = item.slice(last + 1).split(",");
      if (type === "repository") {
        scopes.push({
          type,
          name,
          actions: actions.filter((a): a is Action =>
            a === "pull" || a === "push" || a === "delete"
          ),
        });
      } else if (type === "registry" && name === "catalog") {
        scopes.push({ type, name, actions: ["*"] });
      }
    }
  }
  return scopes;
}

/**
 * Token authentication (the Docker token-auth spec) with its own token endpoint: clients
 * get a 401 naming the endpoint, fetch a JWT there with Basic credentials (or anonymously),
 * and send it as `Bearer`. Tokens are ES256 JWTs signed with a node:crypto key and carry
 * per-repository pull/push/delete grants decided by the policy.
 */
export function tokenAuth(users: Htpasswd, options: TokenAuthOptions = {}): Authenticator {
  const policy = options.policy ?? defaultPolicy;
  const service = options.service ?? "stratum-registry";
  const issuer = options.issuer ?? "stratum-token-issuer";
  const lifetime = options.expiresIn ?? 300;
  const path = options.path ?? "/token";
  const now = options.now ?? Date.now;
  const privateKey = options.privateKey ??
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const publicKey = createPublicKey(privateKey);
  const kid = randomUUID();

  function challenge(request: Request, scope: Scope | undefined, error?: string): string {
    const realm = new URL(path, request.url).href;
    let text = `Bearer realm="${realm}",service="${service}"`;
    if (scope) text += `,scope="${scopeText(scope)}"`;
    if (error) text += `,error="${error}"`;
    return text;
  }

  function issue(user: string | undefined, scopes: Scope[]): string {
    const iat = Math.floor(now() / 1000);
    const claims: Claims = {
      iss: issuer,
      sub: user ?? "",
      aud: service,
      exp: iat + lifetime,
      nbf: iat - 10,
      iat,
      jti: randomUUID(),
      access: scopes.map((s) => {
        const granted = policy(user, s.type === "repository" ? s.name : undefined);
        const actions = s.type === "registry"
          ? (granted.length ? ["*"] : [])
          : s.actions.filter((a) => granted.includes(a));
        return { type: s.type, name: s.name, actions };
      }).filter((a) => a.actions.length > 0),
    };
    const head = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign("sha256", new TextEncoder().encode(`${head}.${body}`), {
      key: privateKey,
      dsaEncoding: "ieee-p1363",
    });
    return `${head}.${body}.${b64url(new Uint8Array(signature))}`;
  }

  function check(token: string): Claims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(new TextDecoder().decode(unb64url(parts[0])));
      if (header.alg !== "ES256") return undefined;
      const ok = verify(
        "sha256",
        new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
        { key: publicKey, dsaEncoding: "ieee-p1363" },
        unb64url(parts[2]),
      );
      if (!ok) return undefined;
      const claims = JSON.parse(new TextDecoder().decode(unb64url(parts[1]))) as Claims;
      const t = now() / 1000;
      if (claims.iss !== issuer || claims.aud !== service) return undefined;
      if (!(claims.exp > t) || !(claims.nbf <= t)) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  async function user(request: Request, fromForm?: URLSearchParams): Promise<string | undefined> {
    const creds = fromForm?.has("username")
      ? { user: fromForm.get("username")!, password: fromForm.get("password") ?? "" }
      : basicCredentials(request);
    if (!creds) return undefined;
    if (!(await users.verify(creds.user, creds.password))) {
      throw new RegistryHttpError("UNAUTHORIZED", "invalid username or password", {
        headers: { "www-authenticate": `Basic realm="${service}"` },
      });
    }
    return creds.user;
  }

  return {
    tokenPath: path,
    // deno-lint-ignore require-await
    async authorize(request, scope) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
      const claims = m ? check(m[1]) : undefined;
      if (!claims) {
        throw new RegistryHttpError("UNAUTHORIZED", "authentication required", {
          headers: {
            "www-authenticate": challenge(request, scope, m ? "invalid_token" : undefined),
          },
        });
      }
      if (scope) {
        const grant = claims.access.find((a) => a.type === scope.type && a.name === scope.name);
        if (!grant || !allowed(grant.actions, scope)) {
          throw new RegistryHttpError("UNAUTHORIZED", `token does not grant ${scopeText(scope)}`, {
            headers: { "www-authenticate": challenge(request, scope, "insufficient_scope") },
          });
        }
      }
      return claims.sub || undefined;
    },
    async token(request) {
      const url = new URL(request.url);
      let params = url.searchParams;
      if (request.method === "POST") {
        params = new URLSearchParams(await request.text());
        const grant = params.get("grant_type");
        if (grant !== "password") {
          return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
        }
      } else if (request.method !== "GET") {
        return Response.json({ error: "invalid_request" }, { status: 405 });
      }
      if ((params.get("service") ?? service) !== service) {
        return Response.json({ error: "invalid_request", error_description: "unknown service" }, {
          status: 400,
        });
      }
      const who = await user(request, request.method === "POST" ? params : undefined);
      const token = issue(who, parseScopes(params.getAll("scope")));
      return Response.json({
        token,
        access_token: token,
        expires_in: lifetime,
        issued_at: new Date(now()).toISOString(),
      });
    },
  };
}
