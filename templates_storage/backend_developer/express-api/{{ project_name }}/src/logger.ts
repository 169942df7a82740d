import { pino } from "pino";

export function createLogger(level: string) {
  return pino({
    level,
    base: { service: "{{ project_name }}" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ["req.headers.authorization", "req.headers.cookie"],
  });
}

export type Logger = ReturnType<typeof createLogger>;
