import { defineConfig, devices } from "@playwright/test";

const CI = !!process.env.CI;

export default defineConfig({
  testDir: "./tests",
  fullyParallel: true,
  forbidOnly: CI,
  retries: CI ? 2 : 0,
  workers: CI ? 2 : undefined,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: CI
    ? [["blob"], ["junit", { outputFile: "reports/junit.xml" }], ["github"]]
    : [["html", { open: "never" }], ["list"]],
  use: {
    baseURL: process.env.BASE_URL ?? "{{ base_url }}",
    trace: "on-first-retry",
    screenshot: "only-on-failure",
    // Use an already installed browser (corporate images, Linux packages) when set. Such setups
    // lack Playwright's ffmpeg build, so video recording is switched off with them.
    video: process.env.PW_CHROMIUM_PATH ? "off" : "retain-on-failure",
    launchOptions: process.env.PW_CHROMIUM_PATH ? { executablePath: process.env.PW_CHROMIUM_PATH } : {},
  },
  projects: [
    { name: "chromium", use: { ...devices["Desktop Chrome"] } },
{%- if browsers == "all" %}
    { name: "firefox", use: { ...devices["Desktop Firefox"] } },
    { name: "webkit", use: { ...devices["Desktop Safari"] } },
    { name: "mobile-chrome", use: { ...devices["Pixel 7"] } },
{%- endif %}
  ],
});
