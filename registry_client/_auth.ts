import { AuthenticationError } from "./errors.ts";
import { type Challenge, parseChallenges } from "./challenge.ts";
import type { CredentialProvider, Credentials } from "./docker_config.ts";

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** What the authenticator needs from the client: a plain fetch that follows no auth. */
export type RawFetch = (url: string, init: RequestInit) => Promise<Response>;

// Tokens without expires_in live 60 s (the token spec's default); refresh a little early.
const DEFAULT_TOKEN_LIFETIME_S = 60;
const EARLY_REFRESH_MS = 5_000;

function encodeBasic(c: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/**
 * One registry host's authentication state: the scheme it asked for, and bearer tokens
 * cached per scope set (Docker token spec, token.md and oauth.md). Tokens are refreshed
 * when they expire or when the registry rejects one mid-transfer.
 */
export class Authenticator {
  readonly #host: string;
  readonly #provider: CredentialProvider;
  readonly #fetch: RawFetch;
  #challenge?: Challenge;
  #credentials?: Promise<Credentials | undefined>;
  #tokens = new Map<string, CachedToken>();
  #pending = new Map<string, Promise<CachedToken>>();
  /** Whether refusals suggest `stratum login` (off while logging in). */
  loginHint = true;

  constructor(host: string, provider: CredentialProvider, fetch: RawFetch) {
    this.#host = host;
    this.#provider = provider;
    this.#fetch = fetch;
  }

  /** True once the registry has told us how it wants to be authenticated. */
  get known(): boolean {
    return this.#challenge !== undefined;
  }

  #creds(): Promise<Credentials | undefined> {
    this.#credentials ??= this.#provider(this.#host);
    return this.#credentials;
  }

  /**
   * What to tell a user the registry refused: to log in, or to log in again when the
   * credentials found were refused. Names the host, never the credential.
   */
  async loginAdvice(): Promise<string> {
    const found = await this.#creds().catch(() => undefined);
    return found
      ? `the credentials for ${this.#host} were refused; log in again with "stratum login ${this.#host}"`
      : `no credentials for ${this.#host}; log in with "stratum login ${this.#host}"`;
  }

  /** The Authorization header value for a request needing `scopes`, if any is known. */
  async header(scopes: string[]): Promise<string | undefined> {
    const c = this.#challenge;
    if (!c) return undefined;
    if (c.scheme === "basic") {
      const creds = await this.#creds();
      if (!creds) return undefined;
      if ("identityToken" in creds) {
        throw new AuthenticationError(this.#host, "an identity token needs Bearer token auth");
      }
      return encodeBasic(creds);
    }
    if (c.scheme !== "bearer") return undefined;
    const key = [...new Set(scopes)].sort().join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(c, [...new Set(scopes)]).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return token.header;
  }

  /**
   * Learns from a 401: records the challenge and forgets the token that was refused.
   * Returns true when a retry with fresh authorization can succeed.
   */
  async reject(wwwAuthenticate: string | null, scopes: string[], sent?: string): Promise<boolean> {
    if (!wwwAuthenticate) return false;
    const challenges = parseChallenges(wwwAuthenticate);
    const pick = challenges.find((c) => c.scheme === "bearer") ??
      challenges.find((c) => c.scheme === "basic");
    if (!pick) return false;
    const first = this.#challenge === undefined || this.#challenge.scheme !== pick.scheme;
    this.#challenge = pick;
    if (pick.scheme === "basic") return first && (await this.#creds()) !== undefined;
    const key = [...new Set(scopes)].sort().join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.header === sent) {
      // The token expired early or was revoked: drop it and ask again.
      this.#tokens.delete(key);
      return true;
    }
    return first || sent === undefined;
  }

  /** Learns the scheme from a ping's 401 without retrying anything. */
  learn(wwwAuthenticate: string | null): void {
    if (!wwwAuthenticate) return;
    const challenges = parseChallenges(wwwAuthenticate);
    this.#challenge = challenges.find((c) => c.scheme === "bearer") ??
      challenges.find((c) => c.scheme === "basic") ?? this.#challenge;
  }

  async #fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) throw new AuthenticationError(this.#host, "the Bearer challenge has no realm");
    let url: URL;
    try {
      url = new URL(realm);
    } catch (e) {
      throw new AuthenticationError(this.#host, `the token realm "${realm}" is not a URL`, {
        cause: e,
      });
    }
    const creds = await this.#creds();
    let res: Response;
    if (creds && "identityToken" in creds) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "stratum",
      });
      if (c.params.service) form.set("service", c.params.service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      res = await this.#fetch(url.href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      });
    } else {
      if (c.params.service) url.searchParams.set("service", c.params.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (creds) headers.authorization = encodeBasic(creds);
      res = await this.#fetch(url.href, { method: "GET", headers });
    }
    if (!res.ok) {
      await res.body?.cancel();
      const advice = res.status === 401 && this.loginHint ? `; ${await this.loginAdvice()}` : "";
      throw new AuthenticationError(
        this.#host,
        `the token server ${url.origin}${url.pathname} answered HTTP ${res.status}` +
          (res.status === 401 && creds ? " (credentials refused)" : "") + advice,
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = await res.json();
    } catch (e) {
      throw new AuthenticationError(this.#host, "the token server's answer is not JSON", {
        cause: e,
      });
    }
    const token = body.token ?? body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new AuthenticationError(this.#host, "the token server's answer holds no token");
    }
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
    const early = Math.min(EARLY_REFRESH_MS, lifetime * 100);
    return { header: `Bearer ${token}`, expiresAt: Date.now() + lifetime * 1000 - early };
  }
}
