import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { HealthBadge } from "./HealthBadge";

function jsonResponse(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("HealthBadge", () => {
  it("shows the API status and version", async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse({ status: "ok", version: "1.2.3" }));
    vi.stubGlobal("fetch", fetchMock);
    render(<HealthBadge />);
    expect(await screen.findByText(/API ok/)).toHaveTextContent("v1.2.3");
    expect(fetchMock).toHaveBeenCalledWith("{{ api_base_url }}/healthz", expect.anything());
  });

  it("offers a retry when the API fails", async () => {
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse({ detail: "down" }, 503))
      .mockResolvedValueOnce(jsonResponse({ status: "ok" }));
    vi.stubGlobal("fetch", fetchMock);
    render(<HealthBadge />);
    expect(await screen.findByRole("alert")).toHaveTextContent("API unreachable");
    await userEvent.setup().click(screen.getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("API ok")).toBeInTheDocument();
  });
});
