import { styles } from "./styles";

export interface FeedbackDetail {
  rating: number;
  comment: string;
  page: string;
}

const DEFAULT_ENDPOINT = "{{ endpoint_url }}";

/**
 * <{{ element_name }} endpoint="https://..." heading="Was this page helpful?"></{{ element_name }}>
 *
 * Attributes: endpoint, heading. Events: "feedback-submit" (cancelable, before sending) and
 * "feedback-sent" / "feedback-error" (after). CSS: --accent, --radius; parts: card, submit.
 */
export class {{ class_name }} extends HTMLElement {
  static observedAttributes = ["heading"];

  #rating = 0;
  #root: ShadowRoot;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
  }

  get endpoint(): string {
    return this.getAttribute("endpoint") ?? DEFAULT_ENDPOINT;
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.#render();
  }

  #render(): void {
    const heading = this.getAttribute("heading") ?? "Was this page helpful?";
    this.#root.innerHTML = `
      <style>${styles}</style>
      <form class="card" part="card" novalidate>
        <h2></h2>
        <div class="ratings" role="group" aria-label="Rating from 1 to 5">
          ${[1, 2, 3, 4, 5].map((n) => `<button type="button" data-rating="${n}" aria-pressed="false">${n}</button>`).join("")}
        </div>
        <label>
          <span class="visually-hidden">Comment (optional)</span>
          <textarea name="comment" maxlength="1000" placeholder="Anything we should improve? (optional)"></textarea>
        </label>
        <button class="submit" part="submit" type="submit" disabled>Send feedback</button>
        <p class="status" role="status" aria-live="polite"></p>
      </form>`;
    // Text set via textContent, never innerHTML, so attribute values cannot inject markup.
    this.#query("h2").textContent = heading;
    this.#root.querySelectorAll<HTMLButtonElement>("[data-rating]").forEach((button) => {
      button.addEventListener("click", () => this.#select(Number(button.dataset.rating)));
    });
    this.#query("form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.submit();
    });
  }

  #query<T extends Element>(selector: string): T {
    const element = this.#root.querySelector<T>(selector);
    if (!element) throw new Error(`missing ${selector}`);
    return element;
  }

  #select(rating: number): void {
    this.#rating = rating;
    this.#root.querySelectorAll<HTMLButtonElement>("[data-rating]").forEach((button) => {
      button.setAttribute("aria-pressed", String(Number(button.dataset.rating) === rating));
    });
    this.#query<HTMLButtonElement>(".submit").disabled = false;
  }

  /** Sends the current rating and comment; resolves to true on success. */
  async submit(): Promise<boolean> {
    if (!this.#rating) return false;
    const detail: FeedbackDetail = {
      rating: this.#rating,
      comment: this.#query<HTMLTextAreaElement>("textarea").value.trim(),
      page: location.href,
    };
    const proceed = this.dispatchEvent(
      new CustomEvent("feedback-submit", { detail, bubbles: true, composed: true, cancelable: true }),
    );
    if (!proceed) return false;

    const status = this.#query(".status");
    const submit = this.#query<HTMLButtonElement>(".submit");
    submit.disabled = true;
    status.textContent = "Sending…";
    try {
      const response = await fetch(this.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(detail),
        signal: AbortSignal.timeout(8000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      status.textContent = "Thank you for your feedback!";
      this.dispatchEvent(new CustomEvent("feedback-sent", { detail, bubbles: true, composed: true }));
      return true;
    } catch (error) {
      status.textContent = "Sorry, sending failed. Please try again.";
      submit.disabled = false;
      this.dispatchEvent(new CustomEvent("feedback-error", { detail: { error }, bubbles: true, composed: true }));
      return false;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "{{ element_name }}": {{ class_name }};
  }
}
