import { createApp } from "./app.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
let ready = true;

const server = createApp({ config, logger, isReady: () => ready }).listen(config.PORT, () => {
  logger.info({ port: config.PORT }, "listening");
});

function shutdown(signal: string) {
  logger.info({ signal }, "shutting down");
  ready = false; // fail readiness first so the load balancer stops sending traffic
  server.close((err) => {
    if (err) {
      logger.error({ err }, "error while closing");
      process.exit(1);
    }
    process.exit(0);
  });
  server.closeIdleConnections();
  setTimeout(() => {
    logger.warn("grace period elapsed, forcing exit");
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS).unref();
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
