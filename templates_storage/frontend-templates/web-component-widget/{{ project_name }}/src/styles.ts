export const styles = `
  :host {
    --accent: {{ accent_color }};
    --radius: 0.75rem;
    display: block;
    max-width: 22rem;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    color: #111827;
  }
  :host([hidden]) { display: none; }
  .card {
    border: 1px solid #e5e7eb;
    border-radius: var(--radius);
    padding: 1rem;
    background: #ffffff;
    box-shadow: 0 1px 3px rgb(0 0 0 / 0.08);
  }
  h2 { font-size: 1rem; margin: 0 0 0.75rem; }
  .ratings { display: flex; gap: 0.5rem; margin-bottom: 0.75rem; }
  .ratings button {
    flex: 1;
    font: inherit;
    padding: 0.4rem 0;
    border: 1px solid #d1d5db;
    border-radius: 0.5rem;
    background: transparent;
    cursor: pointer;
  }
  .ratings button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:focus-visible, textarea:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; min-height: 4rem; margin-bottom: 0.75rem; }
  .submit {
    font: inherit;
    width: 100%;
    padding: 0.5rem;
    border: 0;
    border-radius: 0.5rem;
    background: var(--accent);
    color: #fff;
    cursor: pointer;
  }
  .submit:disabled { opacity: 0.5; cursor: not-allowed; }
  .status { margin: 0.5rem 0 0; font-size: 0.875rem; }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip-path: inset(50%);
    white-space: nowrap;
  }
`;
