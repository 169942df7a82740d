// Smoke: one virtual user for 30 s. Proves the script and the environment work before heavier runs.
import { browseCatalogue } from "../lib/journey.js";
import { summaryHandler } from "../lib/summary.js";
import { tags, thresholds } from "../lib/config.js";

export const options = {
  vus: 1,
  duration: "30s",
  thresholds,
  tags,
};

export default browseCatalogue;
export const handleSummary = summaryHandler("smoke");
