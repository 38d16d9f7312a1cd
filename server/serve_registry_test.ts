import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAddr } from "./serve_registry.ts";

test("parseAddr reads host:port forms and defaults the host to 127.0.0.1", () => {
  assert.deepEqual(parseAddr("127.0.0.1:5000"), { hostname: "127.0.0.1", port: 5000 });
  assert.deepEqual(parseAddr(":8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseAddr("5001"), { hostname: "127.0.0.1", port: 5001 });
  assert.deepEqual(parseAddr("[::1]:5000"), { hostname: "::1", port: 5000 });
  assert.deepEqual(parseAddr("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.throws(() => parseAddr("localhost:http"), {
    name: "TypeError",
    message: /"localhost:http"/,
  });
  assert.throws(() => parseAddr("1.2.3.4:70000"), { name: "TypeError" });
});
