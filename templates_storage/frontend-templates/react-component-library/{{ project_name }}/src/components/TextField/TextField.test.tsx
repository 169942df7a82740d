import { render, screen } from "@testing-library/react";
import { TextField } from "./TextField";

describe("TextField", () => {
  it("associates the label with the input", () => {
    render(<TextField label="Name" />);
    expect(screen.getByLabelText("Name").tagName).toBe("INPUT");
  });

  it("describes the input with hint and error", () => {
    render(<TextField label="E-mail" hint="Work address" error="Required" />);
    const input = screen.getByLabelText("E-mail");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    const describedBy = input.getAttribute("aria-describedby")?.split(" ") ?? [];
    const texts = describedBy.map((id) => document.getElementById(id)?.textContent);
    expect(texts).toEqual(["Work address", "Required"]);
    expect(screen.getByRole("alert").textContent).toBe("Required");
  });
});
