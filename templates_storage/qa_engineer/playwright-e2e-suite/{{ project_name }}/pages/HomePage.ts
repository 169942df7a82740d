import type { Locator, Page } from "@playwright/test";

/** Page object: selectors and actions for the landing page live here, not in the tests. */
export class HomePage {
  readonly mainHeading: Locator;
  readonly mainContent: Locator;
  readonly navigation: Locator;

  constructor(private readonly page: Page) {
    this.mainHeading = page.getByRole("heading", { level: 1 });
    this.mainContent = page.getByRole("main");
    this.navigation = page.getByRole("navigation").first();
  }

  async goto() {
    const response = await this.page.goto("/");
    return response;
  }

  /** Same-origin links on the page, de-duplicated, without fragments. */
  async internalLinks(): Promise<string[]> {
    const origin = new URL(this.page.url()).origin;
    const hrefs = await this.page.locator("a[href]").evaluateAll((anchors) =>
      anchors.map((a) => (a as HTMLAnchorElement).href),
    );
    return [...new Set(hrefs.map((h) => h.split("#")[0] ?? h))].filter((h) => h.startsWith(origin));
  }
}
