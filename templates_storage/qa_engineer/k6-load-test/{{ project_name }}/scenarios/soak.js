// Soak: moderate load for hours, to surface leaks, connection-pool exhaustion and log growth.
import { browseCatalogue } from "../lib/journey.js";
import { summaryHandler } from "../lib/summary.js";
import { TARGET_RPS, tags, thresholds } from "../lib/config.js";

export const options = {
  scenarios: {
    soak: {
      executor: "constant-arrival-rate",
      rate: Math.ceil(TARGET_RPS * 0.6),
      timeUnit: "1s",
      duration: __ENV.SOAK_DURATION || "4h",
      preAllocatedVUs: TARGET_RPS,
      maxVUs: TARGET_RPS * 3,
    },
  },
  thresholds,
  tags,
};

export default browseCatalogue;
export const handleSummary = summaryHandler("soak");
