/**
 * Minimal stand-in for {{ provider_name }} so the full consumer -> provider loop runs locally.
 * In the real provider repository, verify against the actual service instead.
 */
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";

export const orders = new Map();

export function createDemoProvider() {
  return createServer(async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, body ? { "Content-Type": "application/json" } : {});
      res.end(body ? JSON.stringify(body) : undefined);
    };
    const match = req.url?.match(/^\/orders\/([^/]+)$/);
    if (req.method === "GET" && match) {
      const order = orders.get(decodeURIComponent(match[1]));
      return order ? send(200, order) : send(404);
    }
    if (req.method === "POST" && req.url === "/orders") {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      const { items } = JSON.parse(raw);
      const order = { id: randomUUID(), status: "pending", totalCents: 0, items };
      orders.set(order.id, order);
      return send(201, { id: order.id, status: order.status });
    }
    return send(404);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 8080);
  createDemoProvider().listen(port, () => console.log(`demo provider on :${port}`));
}
