// Stress: step beyond the expected peak to find where latency or errors break the objectives.
import { browseCatalogue } from "../lib/journey.js";
import { summaryHandler } from "../lib/summary.js";
import { TARGET_RPS, tags, thresholds } from "../lib/config.js";

export const options = {
  scenarios: {
    stress: {
      executor: "ramping-arrival-rate",
      startRate: TARGET_RPS,
      timeUnit: "1s",
      preAllocatedVUs: TARGET_RPS * 2,
      maxVUs: TARGET_RPS * 10,
      stages: [
        { target: TARGET_RPS * 2, duration: "3m" },
        { target: TARGET_RPS * 3, duration: "3m" },
        { target: TARGET_RPS * 4, duration: "3m" },
        { target: 0, duration: "2m" },
      ],
    },
  },
  thresholds,
  tags,
};

export default browseCatalogue;
export const handleSummary = summaryHandler("stress");
