import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import "./index";
import type { {{ class_name }} } from "./{{ element_name }}";

function mount(attributes: Record<string, string> = {}): {{ class_name }} {
  const element = document.createElement("{{ element_name }}");
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  document.body.append(element);
  return element;
}

const shadow = (element: {{ class_name }}) => element.shadowRoot as ShadowRoot;

describe("<{{ element_name }}>", () => {
  beforeEach(() => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response(null, { status: 204 })));
  });
  afterEach(() => {
    document.body.innerHTML = "";
    vi.unstubAllGlobals();
  });

  it("renders the heading as text, not HTML", () => {
    const element = mount({ heading: "<img src=x onerror=alert(1)>" });
    const h2 = shadow(element).querySelector("h2");
    expect(h2?.textContent).toBe("<img src=x onerror=alert(1)>");
    expect(shadow(element).querySelector("img")).toBeNull();
  });

  it("enables submit only after a rating is chosen", () => {
    const element = mount();
    const submit = shadow(element).querySelector<HTMLButtonElement>(".submit");
    expect(submit?.disabled).toBe(true);
    shadow(element).querySelector<HTMLButtonElement>('[data-rating="4"]')?.click();
    expect(submit?.disabled).toBe(false);
  });

  it("posts the rating to the endpoint and emits feedback-sent", async () => {
    const element = mount({ endpoint: "https://feedback.test/api" });
    const sent = vi.fn();
    element.addEventListener("feedback-sent", sent);
    shadow(element).querySelector<HTMLButtonElement>('[data-rating="5"]')?.click();
    const textarea = shadow(element).querySelector("textarea");
    if (textarea) textarea.value = "  Great docs  ";

    await expect(element.submit()).resolves.toBe(true);
    const [url, init] = vi.mocked(fetch).mock.calls[0] ?? [];
    expect(url).toBe("https://feedback.test/api");
    expect(JSON.parse(String(init?.body))).toMatchObject({ rating: 5, comment: "Great docs" });
    expect(sent).toHaveBeenCalledOnce();
  });

  it("lets the host page cancel sending", async () => {
    const element = mount();
    element.addEventListener("feedback-submit", (event) => event.preventDefault());
    shadow(element).querySelector<HTMLButtonElement>('[data-rating="3"]')?.click();
    await expect(element.submit()).resolves.toBe(false);
    expect(fetch).not.toHaveBeenCalled();
  });

  it("reports failures and re-enables the button", async () => {
    vi.mocked(fetch).mockResolvedValueOnce(new Response(null, { status: 500 }));
    const element = mount();
    shadow(element).querySelector<HTMLButtonElement>('[data-rating="2"]')?.click();
    await expect(element.submit()).resolves.toBe(false);
    expect(shadow(element).querySelector(".status")?.textContent).toContain("failed");
    expect(shadow(element).querySelector<HTMLButtonElement>(".submit")?.disabled).toBe(false);
  });
});
