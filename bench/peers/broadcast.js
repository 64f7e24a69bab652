// The peer of bench/fanout.py: a minimal room on the `ws` package that does what our
// server must do at least as fast: parse every text frame as JSON once, answer `join`
// with a `welcome`, and re-serialise each `draw` once and send it to every joined client
// (sender included, as our server acknowledges a stroke by echoing it).
// Usage: node broadcast.js PORT   (prints "listening PORT" when it accepts connections)
"use strict";
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2] || 0);
const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
const joined = new Set();
let nextId = 1;

server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    if (isBinary) return;
    let message;
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      return;
    }
    if (message.type === "join") {
      joined.add(socket);
      const you = { id: "p" + (nextId++).toString(16), name: message.name, spectator: !!message.spectator };
      socket.send(JSON.stringify({ type: "welcome", protocol: 1, you, now: Date.now() }));
    } else if (message.type === "draw") {
      const out = JSON.stringify(message);
      for (const client of joined) {
        if (client.readyState === WebSocket.OPEN) client.send(out);
      }
    }
  });
  socket.on("close", () => joined.delete(socket));
  socket.on("error", () => joined.delete(socket));
});

server.on("listening", () => console.log("listening " + server.address().port));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    for (const client of server.clients) client.terminate();
    server.close(() => process.exit(0));
  });
}
