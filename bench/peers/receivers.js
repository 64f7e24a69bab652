// The receiving side of bench/fanout.py, identical for both servers: COUNT WebSocket
// clients join as spectators and time every `draw` they receive.
//
// Latency method: the drawer (bench/fanout.py) encodes its send time, CLOCK_MONOTONIC in
// microseconds modulo 2^39, into the y coordinates of the stroke's first three points
// (13 bits each, as y = chunk / 10, which the server's clamp to 0..900 and rounding to one
// decimal leave unchanged). process.hrtime.bigint() reads the same clock, so
// latency = receipt time - send time needs no clock sync and survives the server
// rebuilding the message.
//
// Usage: node receivers.js WS_URL COUNT NAME_PREFIX
// stdout: "ready COUNT" once every client got its welcome. stdin commands:
//   "measure" starts (or resumes) recording, "pause" pauses it, "stop" prints one JSON
//   line of results (over all measured intervals) and exits.
"use strict";
const { WebSocket } = require("ws");
const readline = require("node:readline");

const [url, countArg, prefix = "r"] = process.argv.slice(2);
const count = Number(countArg);
const MODULUS = 2 ** 39;
const CHUNK = 2 ** 13;

let welcomed = 0;
let measuring = false;
let measureStart = 0n;
let measuredNanos = 0n;
let received = 0;
let undecodable = 0;
let otherMessages = 0;
let closedEarly = 0;
const closeCodes = {};
let latencies = new Float64Array(1 << 16);

function nowMicros() {
  return Number(process.hrtime.bigint() / 1000n);
}

function record(latency) {
  if (received === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[received++] = latency;
}

function sentMicros(points) {
  if (!Array.isArray(points) || points.length < 3) return null;
  let value = 0;
  for (let i = 2; i >= 0; i--) {
    const chunk = Math.round(points[i][1] * 10);
    if (!(chunk >= 0 && chunk < CHUNK)) return null;
    value = value * CHUNK + chunk;
  }
  return value;
}

function onMessage(data) {
  const message = JSON.parse(data.toString("utf8"));
  if (message.type === "draw") {
    if (!measuring) return;
    const sent = sentMicros(message.points);
    if (sent === null) {
      undecodable++;
      return;
    }
    const latency = (((nowMicros() % MODULUS) - sent) % MODULUS + MODULUS) % MODULUS;
    record(latency);
  } else if (message.type === "welcome") {
    welcomed++;
    if (welcomed === count) console.log("ready " + count);
  } else {
    otherMessages++;
  }
}

for (let i = 0; i < count; i++) {
  const socket = new WebSocket(url, { perMessageDeflate: process.env.BENCH_DEFLATE === "1" });
  socket.on("open", () =>
    socket.send(JSON.stringify({ type: "join", name: prefix + i, spectator: true, protocol: 1 })),
  );
  socket.on("message", onMessage);
  socket.on("error", (err) => console.error("receiver " + i + ": " + err.message));
  socket.on("close", (code) => {
    closedEarly++;
    closeCodes[code] = (closeCodes[code] || 0) + 1;
  });
}

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = line.trim();
  if (command === "measure" && !measuring) {
    measureStart = process.hrtime.bigint();
    measuring = true;
  } else if (command === "pause" && measuring) {
    measuredNanos += process.hrtime.bigint() - measureStart;
    measuring = false;
  } else if (command === "stop") {
    if (measuring) measuredNanos += process.hrtime.bigint() - measureStart;
    measuring = false;
    const seconds = Number(measuredNanos) / 1e9;
    const result = {
      receivers: count,
      seconds,
      received,
      undecodable,
      otherMessages,
      closedEarly,
      closeCodes,
      latenciesMicros: Array.from(latencies.subarray(0, received)),
    };
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
  }
});
