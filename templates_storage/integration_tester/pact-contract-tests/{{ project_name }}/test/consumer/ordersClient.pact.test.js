import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
import { OrdersClient } from "../../src/ordersClient.js";

const { like, eachLike, integer, regex, uuid } = MatchersV3;

const pact = new PactV4({
  consumer: "{{ consumer_name }}",
  provider: "{{ provider_name }}",
  dir: path.resolve(import.meta.dirname, "../../pacts"),
  logLevel: "warn",
});

const ORDER_ID = "6f1c1a52-4cb5-4f9e-9a51-2f4d0c6f1a01";

describe("{{ consumer_name }} -> {{ provider_name }}", () => {
  it("fetches an existing order", async () => {
    await pact
      .addInteraction()
      .given("order exists", { id: ORDER_ID })
      .uponReceiving("a request for an existing order")
      .withRequest("GET", `/orders/${ORDER_ID}`, (builder) => {
        builder.headers({ Accept: "application/json" });
      })
      .willRespondWith(200, (builder) => {
        builder.headers({ "Content-Type": regex("application/json.*", "application/json") });
        builder.jsonBody({
          id: uuid(ORDER_ID),
          status: regex("pending|paid|shipped|cancelled", "paid"),
          totalCents: integer(2599),
          items: eachLike({ sku: like("SKU-1"), quantity: integer(1) }),
        });
      })
      .executeTest(async (mockServer) => {
        const order = await new OrdersClient(mockServer.url).getOrder(ORDER_ID);
        assert.deepEqual(order, {
          id: ORDER_ID,
          status: "paid",
          total: 25.99,
          items: [{ sku: "SKU-1", quantity: 1 }],
        });
      });
  });

  it("returns null for an unknown order", async () => {
    await pact
      .addInteraction()
      .given("no orders exist")
      .uponReceiving("a request for a missing order")
      .withRequest("GET", "/orders/00000000-0000-4000-8000-000000000000", (builder) => {
        builder.headers({ Accept: "application/json" });
      })
      .willRespondWith(404)
      .executeTest(async (mockServer) => {
        const order = await new OrdersClient(mockServer.url).getOrder("00000000-0000-4000-8000-000000000000");
        assert.equal(order, null);
      });
  });

  it("creates an order", async () => {
    await pact
      .addInteraction()
      .given("catalogue has SKU-1")
      .uponReceiving("a request to create an order")
      .withRequest("POST", "/orders", (builder) => {
        builder.headers({ "Content-Type": "application/json", Accept: "application/json" });
        builder.jsonBody({ items: [{ sku: "SKU-1", quantity: 2 }] });
      })
      .willRespondWith(201, (builder) => {
        builder.jsonBody({ id: uuid(ORDER_ID), status: "pending" });
      })
      .executeTest(async (mockServer) => {
        const created = await new OrdersClient(mockServer.url).createOrder([{ sku: "SKU-1", quantity: 2 }]);
        assert.equal(created.status, "pending");
      });
  });
});
