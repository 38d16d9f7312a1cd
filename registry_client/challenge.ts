/** One authentication challenge from a `WWW-Authenticate` header (RFC 7235). */
export interface Challenge {
  /** The scheme, lower-cased: `bearer`, `basic`. */
  scheme: string;
  /** The parameters, keys lower-cased: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

// token68 or auth-param list; a quoted string may hold commas and escaped quotes.
const PARAM = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(,|$)/y;
const SCHEME = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+|$|(?=,))/y;

/**
 * Parses a `WWW-Authenticate` header into its challenges. A header may carry several
 * (`Basic realm="x", Bearer realm="y",service="z"`), and a Bearer `scope` may list several
 * scopes separated by spaces. Throws `SyntaxError` naming the header for malformed input.
 *
 * @example
 * ```ts
 * import { parseChallenges } from "./challenge.ts";
 * const [c] = parseChallenges('Bearer realm="https://auth.example/token",service="reg"');
 * if (c.scheme !== "bearer" || c.params.service !== "reg") throw new Error();
 * ```
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`Malformed WWW-Authenticate header "${header}": ${why}`);
  };
  while (i < header.length) {
    while (header[i] === "," || header[i] === " " || header[i] === "\t") i++;
    if (i >= header.length) break;
    SCHEME.lastIndex = i;
    const s = SCHEME.exec(header);
    if (!s) fail(`expected an auth scheme at offset ${i}`);
    i = SCHEME.lastIndex;
    const challenge: Challenge = { scheme: s![1].toLowerCase(), params: {} };
    out.push(challenge);
    // Parameters until the next token that is a scheme (a token not followed by "=").
    while (i < header.length) {
      PARAM.lastIndex = i;
      const p = PARAM.exec(header);
      if (!p) break;
      let value = p[2];
      if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, "$1");
      challenge.params[p[1].toLowerCase()] = value;
      i = PARAM.lastIndex;
    }
    if (i < header.length && !/^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s|$)/.test(header.slice(i))) {
      fail(`unexpected text at offset ${i}`);
    }
  }
  return out;
}
