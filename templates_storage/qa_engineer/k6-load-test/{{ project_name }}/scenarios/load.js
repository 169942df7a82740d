// Load: the expected peak, as an open model (arrival rate), so a slow system cannot lower the load.
import { browseCatalogue } from "../lib/journey.js";
import { summaryHandler } from "../lib/summary.js";
import { TARGET_RPS, tags, thresholds } from "../lib/config.js";

export const options = {
  scenarios: {
    load: {
      executor: "ramping-arrival-rate",
      startRate: 0,
      timeUnit: "1s",
      preAllocatedVUs: Math.max(10, TARGET_RPS),
      maxVUs: TARGET_RPS * 4,
      stages: [
        { target: TARGET_RPS, duration: "2m" },
        { target: TARGET_RPS, duration: "10m" },
        { target: 0, duration: "1m" },
      ],
    },
  },
  thresholds,
  tags,
};

export default browseCatalogue;
export const handleSummary = summaryHandler("load");
