// The user journey every scenario replays. Adapt the endpoints to the system under test.
import http from "k6/http";
import { check, group, sleep } from "k6";
import { BASE_URL, headers } from "./config.js";

export function browseCatalogue() {
  group("list items", () => {
    const res = http.get(`${BASE_URL}/api/v1/items?limit=20`, {
      headers: headers(),
      tags: { endpoint: "list" },
    });
    check(res, {
      "list: status 200": (r) => r.status === 200,
      "list: json body": (r) => (r.headers["Content-Type"] || "").includes("application/json"),
    });
  });

  group("health", () => {
    const res = http.get(`${BASE_URL}/healthz`, { tags: { endpoint: "detail" } });
    check(res, { "health: status 200": (r) => r.status === 200 });
  });

  // Think time between iterations; closed-model scenarios depend on it, open-model ones do not.
  sleep(Math.random() * 0.5);
}
