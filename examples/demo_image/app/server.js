// A tiny HTTP server, for show: the demo image is inspected, never run.
const port = Number(process.env.APP_PORT ?? 8080);
require("node:http").createServer((_, res) => res.end(`${process.env.GREETING}\n`)).listen(port);
