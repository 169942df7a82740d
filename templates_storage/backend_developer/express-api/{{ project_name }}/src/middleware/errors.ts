import type { NextFunction, Request, Response } from "express";
import { ZodError } from "zod";
import type { Logger } from "../logger.js";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function problem(res: Response, status: number, title: string, detail: string, extra = {}) {
  res
    .status(status)
    .type("application/problem+json")
    .json({ type: "about:blank", title, status, detail, ...extra });
}

export function notFound(req: Request, res: Response): void {
  problem(res, 404, "Not Found", `no route for ${req.method} ${req.path}`);
}

/** Express 5 forwards rejected promises from async handlers here automatically. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (err instanceof ZodError) {
      const errors = err.issues.map((i) => ({ field: i.path.join("."), message: i.message }));
      problem(res, 422, "Unprocessable Entity", "request validation failed", { errors });
      return;
    }
    if (err instanceof HttpError) {
      problem(res, err.status, err.status === 404 ? "Not Found" : "Error", err.message);
      return;
    }
    if (err instanceof SyntaxError && "body" in err) {
      problem(res, 400, "Bad Request", "malformed JSON body");
      return;
    }
    logger.error({ err, requestId: req.id }, "unhandled error");
    problem(res, 500, "Internal Server Error", "unexpected error");
  };
}
