import assert from "node:assert/strict";
import { describe, it } from "node:test";
import request from "supertest";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";

const app = () => createApp({ config: loadConfig({}), logger: createLogger("silent") });

describe("health", () => {
  it("reports liveness and sets a request id", async () => {
    const res = await request(app()).get("/healthz").expect(200);
    assert.equal(res.body.status, "ok");
    assert.match(res.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/);
  });

  it("propagates an incoming request id", async () => {
    const res = await request(app()).get("/readyz").set("x-request-id", "abc-123").expect(200);
    assert.equal(res.headers["x-request-id"], "abc-123");
  });

  it("fails readiness while shutting down", async () => {
    const draining = createApp({
      config: loadConfig({}),
      logger: createLogger("silent"),
      isReady: () => false,
    });
    await request(draining).get("/readyz").expect(503);
  });
});

describe("items", () => {
  it("creates, reads, lists and deletes", async () => {
    const api = app();
    const created = await request(api)
      .post("/api/v1/items")
      .send({ name: "widget", priceCents: 1299 })
      .expect(201);
    assert.equal(created.body.name, "widget");
    assert.deepEqual(created.body.tags, []);
    assert.equal(created.headers.location, `/api/v1/items/${created.body.id}`);

    await request(api).get(`/api/v1/items/${created.body.id}`).expect(200);
    const list = await request(api).get("/api/v1/items?limit=5").expect(200);
    assert.equal(list.body.total, 1);

    await request(api).delete(`/api/v1/items/${created.body.id}`).expect(204);
    await request(api).get(`/api/v1/items/${created.body.id}`).expect(404);
  });

  it("rejects invalid input with field errors", async () => {
    const res = await request(app())
      .post("/api/v1/items")
      .send({ name: "", priceCents: -1 })
      .expect(422);
    assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    assert.deepEqual(fields, ["name", "priceCents"]);
  });

  it("answers malformed JSON with 400", async () => {
    await request(app())
      .post("/api/v1/items")
      .set("content-type", "application/json")
      .send("{not json")
      .expect(400);
  });

  it("answers unknown routes with a problem document", async () => {
    const res = await request(app()).get("/nope").expect(404);
    assert.equal(res.body.status, 404);
  });
});

describe("config", () => {
  it("rejects an invalid port", () => {
    assert.throws(() => loadConfig({ PORT: "70000" }), /invalid configuration/);
  });
});
