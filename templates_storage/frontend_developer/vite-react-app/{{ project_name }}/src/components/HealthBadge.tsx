import { useApi } from "../hooks/useApi";

interface Health {
  status: string;
  version?: string;
}

export function HealthBadge() {
  const health = useApi<Health>("/healthz");

  if (health.status === "loading") {
    return (
      <span className="badge" aria-busy="true">
        Checking API…
      </span>
    );
  }
  if (health.status === "error") {
    return (
      <span className="badge badge-error" role="alert">
        API unreachable{" "}
        <button type="button" onClick={health.reload}>
          Retry
        </button>
      </span>
    );
  }
  return (
    <span className="badge badge-ok">
      API {health.data.status}
      {health.data.version ? ` · v${health.data.version}` : null}
    </span>
  );
}
