import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Counter } from "./Counter";

describe("Counter", () => {
  it("increments and decrements", async () => {
    const user = userEvent.setup();
    render(<Counter initial={5} />);
    await user.click(screen.getByRole("button", { name: "Increment" }));
    await user.click(screen.getByRole("button", { name: "Increment" }));
    await user.click(screen.getByRole("button", { name: "Decrement" }));
    expect(screen.getByRole("status")).toHaveTextContent("6");
  });
});
