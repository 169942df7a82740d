// Shared configuration. Every value can be overridden at run time: k6 run -e BASE_URL=https://...
export const BASE_URL = (__ENV.BASE_URL || "{{ base_url }}").replace(/\/$/, "");
export const TARGET_RPS = Number(__ENV.TARGET_RPS || {{ target_rps }});
export const P95_MS = Number(__ENV.P95_MS || {{ p95_ms }});
export const ERROR_RATE = Number(__ENV.ERROR_RATE || {{ error_rate }});
export const TOKEN = __ENV.API_TOKEN || "";

// Service-level objectives, shared by every scenario. abortOnFail stops a run that is already lost.
export const thresholds = {
  http_req_failed: [{ threshold: `rate<${ERROR_RATE}`, abortOnFail: true, delayAbortEval: "30s" }],
  http_req_duration: [`p(95)<${P95_MS}`, `p(99)<${P95_MS * 3}`],
  checks: ["rate>0.99"],
  "http_req_duration{endpoint:list}": [`p(95)<${P95_MS}`],
  "http_req_duration{endpoint:detail}": [`p(95)<${P95_MS}`],
};

export const tags = { service: "{{ service_name }}" };

export function headers() {
  const h = { Accept: "application/json", "Content-Type": "application/json" };
  if (TOKEN) h.Authorization = `Bearer ${TOKEN}`;
  return h;
}
