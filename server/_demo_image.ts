/**
 * The demo image's Dockerfile and build context, kept as text so they ship with the server
 * module to Deno Deploy and npm, where `examples/` is not published. They are the files of
 * `examples/demo_image/` (server/demo_app_test.ts checks that they match byte for byte).
 */

/** The demo image's Dockerfile. */
export const DEMO_IMAGE_DOCKERFILE: string =
  '# The image the stratum demo shows on its first visit (demo/app:1). stratum builds it from\n# this folder when the demo starts with an empty store: no network, no base image and no\n# RUN, because Deno Deploy has no container runtime. Each COPY is a layer; the last one\n# replaces /etc/os-release, so the page has a file hidden by a later layer to show.\nFROM scratch\nCOPY etc/ /etc/\nCOPY app/ /app/\nCOPY release/os-release /etc/os-release\nENV APP_PORT=8080 GREETING="hello from stratum"\nLABEL org.opencontainers.image.title="stratum demo" org.opencontainers.image.licenses=MIT\nWORKDIR /app\nEXPOSE 8080/tcp\nHEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/app/healthcheck"]\nCMD ["/app/server.js"]\n';

/** The demo image's build context: path to text. */
export const DEMO_IMAGE_CONTEXT: ReadonlyMap<string, string> = new Map([
  ["app/config.json", '{\n  "port": 8080,\n  "greeting": "hello from stratum"\n}\n'],
  [
    "app/healthcheck",
    '#!/bin/sh\n# Exits 0 while the server answers.\nexec wget -q -O /dev/null "http://127.0.0.1:${APP_PORT}/"\n',
  ],
  [
    "app/server.js",
    '// A tiny HTTP server, for show: the demo image is inspected, never run.\nconst port = Number(process.env.APP_PORT ?? 8080);\nrequire("node:http").createServer((_, res) => res.end(`${process.env.GREETING}\\n`)).listen(port);\n',
  ],
  ["etc/motd", "Welcome to the stratum demo image.\n"],
  ["etc/os-release", 'NAME="stratum demo"\nVERSION="1"\n'],
  [
    "release/os-release",
    'NAME="stratum demo"\nVERSION="1.1"\nHOME_URL="https://github.com/stratum/stratum"\n',
  ],
]);
