// Writes a machine-readable summary next to the console output (used by CI artefacts).
import { textSummary } from "https://jslib.k6.io/k6-summary/0.1.0/index.js";

export function summaryHandler(name) {
  return (data) => ({
    stdout: textSummary(data, { indent: " ", enableColors: true }),
    [`reports/${name}-summary.json`]: JSON.stringify(data, null, 2),
  });
}
