import express from "express";
import helmet from "helmet";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import { errorHandler, notFound } from "./middleware/errors.js";
import { requestContext } from "./middleware/requestId.js";
import { healthRouter } from "./routes/health.js";
import { itemsRouter } from "./routes/items.js";

export interface AppOptions {
  config: Config;
  logger: Logger;
  isReady?: () => boolean;
}

export function createApp({ config, logger, isReady = () => true }: AppOptions) {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", config.TRUST_PROXY);
  app.use(helmet());
  app.use(requestContext(logger));
  app.use(express.json({ limit: "1mb" }));

  app.use(healthRouter(isReady));
  app.use("/api/v1/items", itemsRouter());

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
