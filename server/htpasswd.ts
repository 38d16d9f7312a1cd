import bcrypt from "bcryptjs";
import { createHash } from "node:crypto";

/** Options for {@linkcode Htpasswd.parse}. */
export interface HtpasswdOptions {
  /** How long a verified user/password pair is remembered, in ms. @default {300000} */
  cacheMs?: number;
  /** Clock, for tests. @default {Date.now} */
  now?: () => number;
}

/**
 * Users and bcrypt password hashes in Apache `htpasswd -B` form (`user:$2y$...`), the format
 * the CNCF registry reads. Only bcrypt is accepted: the other htpasswd schemes (MD5, SHA1,
 * crypt) are too weak to offer. bcrypt takes tens of milliseconds by design and clients send
 * Basic credentials with every request, so verified pairs are remembered for a while under
 * a SHA-256 of the pair, never the password itself.
 */
export class Htpasswd {
  readonly #hashes: Map<string, string>;
  readonly #verified = new Map<string, number>();
  readonly #cacheMs: number;
  readonly #now: () => number;

  private constructor(hashes: Map<string, string>, options: HtpasswdOptions) {
    this.#hashes = hashes;
    this.#cacheMs = options.cacheMs ?? 300_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Parses htpasswd text; `source` names it in errors. Throws `SyntaxError` naming the
   * line for a malformed line or a hash that is not bcrypt.
   */
  static parse(text: string, source = "htpasswd", options: HtpasswdOptions = {}): Htpasswd {
    const hashes = new Map<string, string>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const colon = line.indexOf(":");
      if (colon <= 0) {
        throw new SyntaxError(`${source}:${i + 1}: expected "user:hash"`);
      }
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new SyntaxError(
          `${source}:${
            i + 1
          }: the hash for user "${user}" is not bcrypt; create it with htpasswd -B`,
        );
      }
      hashes.set(user, hash);
    });
    return new Htpasswd(hashes, options);
  }

  /** Every user name. */
  get users(): string[] {
    return [...this.#hashes.keys()];
  }

  /** True when `password` is `user`'s. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.#hashes.get(user);
    if (!hash) return false;
    const key = createHash("sha256").update(`${user}\0${password}\0${hash}`).digest("hex");
    const until = this.#verified.get(key);
    if (until !== undefined && until > this.#now()) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) {
      if (this.#verified.size > 1000) this.#verified.clear();
      this.#verified.set(key, this.#now() + this.#cacheMs);
    }
    return ok;
  }
}
