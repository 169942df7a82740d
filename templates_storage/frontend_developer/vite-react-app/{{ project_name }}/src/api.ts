export const API_BASE_URL = import.meta.env.VITE_API_BASE_URL ?? "{{ api_base_url }}";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** JSON fetch with a timeout and errors that carry the HTTP status. */
export async function apiGet<T>(
  path: string,
  signal?: AbortSignal,
  timeoutMs = 10_000,
): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const response = await fetch(`${API_BASE_URL}${path}`, {
    headers: { Accept: "application/json" },
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!response.ok) {
    throw new ApiError(response.status, `GET ${path} failed with ${response.status}`);
  }
  return (await response.json()) as T;
}
