import { expect, test } from "../fixtures/test";

test.describe("{{ app_name }} resilience", () => {
  test.use({ allowConsoleErrors: true });

  test("unknown routes show a not-found page, not a blank screen", async ({ page }) => {
    const response = await page.goto("/this-page-does-not-exist");
    expect([200, 404]).toContain(response?.status());
    await expect(page.locator("body")).not.toBeEmpty();
  });

  test("renders when API calls fail", async ({ page, homePage }) => {
    // Simulate an outage of every XHR/fetch call; the shell must still render.
    await page.route("**/api/**", (route) => route.fulfill({ status: 503, body: "unavailable" }));
    await homePage.goto();
    await expect(homePage.mainContent).toBeVisible();
  });
});
