import type { Meta, StoryObj } from "@storybook/react-vite";
import { TextField } from "./TextField";

const meta = {
  title: "Components/TextField",
  component: TextField,
  args: { label: "E-mail", type: "email", placeholder: "you@example.com" },
} satisfies Meta<typeof TextField>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Default: Story = {};
export const WithHint: Story = { args: { hint: "We never share your address." } };
export const Invalid: Story = { args: { error: "Enter a valid e-mail address.", defaultValue: "not-an-email" } };
export const Required: Story = { args: { required: true } };
