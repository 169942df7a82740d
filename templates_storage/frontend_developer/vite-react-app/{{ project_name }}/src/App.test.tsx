import { render, screen } from "@testing-library/react";
import { vi } from "vitest";
import App from "./App";

it("renders the title", async () => {
  vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response(JSON.stringify({ status: "ok" }))));
  render(<App />);
  expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("{{ app_title }}");
  expect(await screen.findByText("API ok")).toBeInTheDocument();
});
