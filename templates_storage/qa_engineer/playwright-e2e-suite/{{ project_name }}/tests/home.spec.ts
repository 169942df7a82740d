import { expect, test } from "../fixtures/test";

test.describe("{{ app_name }} home page", () => {
  test("loads with a title, a main landmark and one h1", async ({ homePage, page }) => {
    const response = await homePage.goto();
    expect(response?.status(), "HTTP status of /").toBeLessThan(400);
    await expect(page).toHaveTitle(/\S/);
    await expect(homePage.mainContent).toBeVisible();
    await expect(homePage.mainHeading).toHaveCount(1);
  });

  test("has no serious or critical accessibility violations", async ({ homePage, a11yViolations }) => {
    await homePage.goto();
    expect(await a11yViolations()).toEqual([]);
  });

  test("internal links resolve", async ({ homePage, request }) => {
    await homePage.goto();
    const links = await homePage.internalLinks();
    for (const link of links.slice(0, 25)) {
      const response = await request.get(link);
      expect.soft(response.status(), link).toBeLessThan(400);
    }
  });

  test("is usable with the keyboard", async ({ homePage, page }) => {
    await homePage.goto();
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.tagName ?? "BODY");
    expect(focused, "first Tab should move focus to an interactive element").not.toBe("BODY");
  });
});
