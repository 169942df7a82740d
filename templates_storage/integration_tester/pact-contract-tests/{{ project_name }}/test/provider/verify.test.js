import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Verifier } from "@pact-foundation/pact";
import { createDemoProvider, orders } from "./demo-provider.js";

// PROVIDER_BASE_URL: verify a running provider instead of the demo stand-in.
// PACT_BROKER_BASE_URL: fetch pacts from a broker instead of ./pacts and publish results.
const externalProvider = process.env.PROVIDER_BASE_URL;
const brokerUrl = process.env.PACT_BROKER_BASE_URL;

describe("{{ provider_name }} honours its consumers' contracts", () => {
  let server;
  let providerBaseUrl = externalProvider;

  before(async () => {
    if (externalProvider) return;
    server = createDemoProvider();
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    providerBaseUrl = `http://127.0.0.1:${server.address().port}`;
  });

  after(() => server?.close());

  it("verifies all pacts", async () => {
    const source = brokerUrl
      ? {
          pactBrokerUrl: brokerUrl,
          pactBrokerToken: process.env.PACT_BROKER_TOKEN,
          consumerVersionSelectors: [{ mainBranch: true }, { deployedOrReleased: true }],
          publishVerificationResult: process.env.CI === "true",
          providerVersion: process.env.GIT_COMMIT ?? "local",
          providerVersionBranch: process.env.GIT_BRANCH ?? "local",
        }
      : { pactUrls: [path.resolve(import.meta.dirname, "../../pacts/{{ consumer_name }}-{{ provider_name }}.json")] };

    await new Verifier({
      provider: "{{ provider_name }}",
      providerBaseUrl,
      ...source,
      // State handlers put the provider into the state each interaction assumes.
      stateHandlers: {
        "order exists": async (params) => {
          orders.set(params.id, {
            id: params.id,
            status: "paid",
            totalCents: 2599,
            items: [{ sku: "SKU-1", quantity: 1 }],
          });
        },
        "no orders exist": async () => {
          orders.clear();
        },
        "catalogue has SKU-1": async () => {},
      },
      logLevel: "warn",
    }).verifyProvider();
  });
});
