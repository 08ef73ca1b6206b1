// A small MCP agent on the official TypeScript SDK (@modelcontextprotocol/sdk):
// connects to an MCP server over stdio or streamable HTTP, lists its tools,
// calls the steps of a JSON file ([[tool, arguments], ...]) and prints one
// JSON line: {server, tools, results: [{isError, structured}]}.
//
//   node client.mjs stdio <steps.json> <command> [args...]
//   node client.mjs http  <steps.json> <url> ["Header: value" ...]
//
// Installed beside its node_modules by scripts/mcp-ts.sh.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, stepsFile, target, ...rest] = process.argv.slice(2);
if (!["stdio", "http"].includes(mode) || !stepsFile || !target) {
  console.error("usage: client.mjs stdio|http <steps.json> <command|url> [args|headers...]");
  process.exit(2);
}
const steps = JSON.parse(readFileSync(stepsFile, "utf8"));

let transport;
if (mode === "stdio") {
  // Only what the server needs from the environment: never the whole of it.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === "HOME" || k === "PATH" || k.startsWith("L402_")) env[k] = v;
  }
  transport = new StdioClientTransport({ command: target, args: rest, env, stderr: "inherit" });
} else {
  const headers = {};
  for (const line of rest) {
    const at = line.indexOf(":");
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  transport = new StreamableHTTPClientTransport(new URL(target), { requestInit: { headers } });
}

const client = new Client({ name: "l402-ts-agent", version: "1.0.0" });
await client.connect(transport);
const listed = await client.listTools();
const results = [];
for (const [tool, args] of steps) {
  const r = await client.callTool({ name: tool, arguments: args });
  results.push({ isError: Boolean(r.isError), structured: r.structuredContent ?? null });
}
console.log(JSON.stringify({
  server: client.getServerVersion()?.name,
  protocol: transport.protocolVersion ?? null,
  tools: listed.tools,
  results,
}));
await client.close();
