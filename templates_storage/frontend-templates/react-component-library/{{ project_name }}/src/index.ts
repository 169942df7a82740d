import "./styles/theme.css";

export { Button } from "./components/Button/Button";
export type { ButtonProps, ButtonSize, ButtonVariant } from "./components/Button/Button";
export { TextField } from "./components/TextField/TextField";
export type { TextFieldProps } from "./components/TextField/TextField";
