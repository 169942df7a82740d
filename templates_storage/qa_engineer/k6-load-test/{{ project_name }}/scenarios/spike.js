// Spike: a sudden burst (a marketing e-mail, a retry storm) and the recovery after it.
import { browseCatalogue } from "../lib/journey.js";
import { summaryHandler } from "../lib/summary.js";
import { TARGET_RPS, tags, thresholds } from "../lib/config.js";

export const options = {
  scenarios: {
    spike: {
      executor: "ramping-arrival-rate",
      startRate: Math.ceil(TARGET_RPS / 5),
      timeUnit: "1s",
      preAllocatedVUs: TARGET_RPS * 2,
      maxVUs: TARGET_RPS * 10,
      stages: [
        { target: Math.ceil(TARGET_RPS / 5), duration: "1m" },
        { target: TARGET_RPS * 5, duration: "10s" },
        { target: TARGET_RPS * 5, duration: "1m" },
        { target: Math.ceil(TARGET_RPS / 5), duration: "10s" },
        { target: Math.ceil(TARGET_RPS / 5), duration: "2m" },
      ],
    },
  },
  thresholds,
  tags,
};

export default browseCatalogue;
export const handleSummary = summaryHandler("spike");
