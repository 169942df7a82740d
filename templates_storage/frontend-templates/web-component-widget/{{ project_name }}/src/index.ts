import { {{ class_name }} } from "./{{ element_name }}";

export { {{ class_name }} };
export type { FeedbackDetail } from "./{{ element_name }}";

// Define once, even if the script is included twice on a page.
if (!customElements.get("{{ element_name }}")) {
  customElements.define("{{ element_name }}", {{ class_name }});
}
