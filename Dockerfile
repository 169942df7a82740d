# Maestro: one Rust binary (template registry, quality gates, durable workflow engine).
#
#   docker build -t maestro:latest .
#   docker run --rm -p 8000:8000 -v maestro-data:/app/data \
#     -e MAESTRO__AUTH__SECRET_KEY="$(openssl rand -hex 32)" maestro:latest
#
# Needs BuildKit (the default builder since Docker 23) for the RUN --mount cache mounts.
# No `# syntax=` line on purpose: the builder's built-in Dockerfile frontend is enough, and
# the build then pulls nothing but the two base images and crates from crates.io.
#
# A clean release build takes ~12 minutes. Two things keep rebuilds short:
#   1. a dependency step that builds every crate in Cargo.lock against an empty main; it is
#      re-run only when Cargo.toml or Cargo.lock change;
#   2. cache mounts for the cargo registry and /app/target, so the real build recompiles only
#      the maestro crate when just the source changed.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder

# gcc, pkg-config and libssl-dev ship in the rust image; libpq and SQLite are built from the
# bundled sources of pq-sys / libsqlite3-sys, so no -dev packages are installed here.
# Extra cargo features, e.g. --build-arg CARGO_FEATURES=static-openssl.
ARG CARGO_FEATURES=""
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_NET_RETRY=10

WORKDIR /app

# 1. Dependencies only. A stub lib.rs/main.rs lets cargo compile the whole dependency graph;
#    the stub's own artifacts are removed afterwards so the real build can never mistake them
#    for an up-to-date maestro.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=maestro-target,target=/app/target,sharing=locked \
    set -eux; \
    mkdir -p src; \
    echo 'fn main() {}' > src/main.rs; \
    : > src/lib.rs; \
    cargo fetch --locked; \
    cargo build --release --locked ${CARGO_FEATURES:+--features "$CARGO_FEATURES"}; \
    rm -rf src \
        target/release/maestro target/release/maestro.d \
        target/release/libmaestro.* \
        target/release/deps/maestro-* target/release/deps/libmaestro-* \
        target/release/.fingerprint/maestro-*

# 2. The real sources (filtered by .dockerignore). The build embeds config/default.toml and
#    migrations/, so they are part of the context. Touching src/ makes cargo rebuild the
#    maestro crate whatever mtimes the context carries, so embedded files are never stale.
#    The binary is copied out of the cache mount, which does not persist into the image.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=maestro-target,target=/app/target,sharing=locked \
    set -eux; \
    find src -type f -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --bin maestro ${CARGO_FEATURES:+--features "$CARGO_FEATURES"}; \
    install -D -m 0755 target/release/maestro /out/maestro; \
    mkdir -p config migrations templates_storage

# ---------------------------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
# Extra Debian packages for the runtime, e.g. --build-arg RUNTIME_EXTRA_PACKAGES=openssh-client
# when template repositories are pushed over SSH (HTTPS remotes need nothing extra).
ARG RUNTIME_EXTRA_PACKAGES=""

LABEL org.opencontainers.image.title="maestro" \
      org.opencontainers.image.description="Maestro platform server: template registry, quality gates, durable workflow engine" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      maestro.service="maestro" \
      maestro.layer="application"

# ca-certificates: TLS to PostgreSQL/Redis/OIDC/OTLP/git remotes. libssl3: libpq's TLS.
# git: pushing template repositories. tini: PID 1 that forwards SIGTERM and reaps the
# processes git leaves behind (e.g. a detached `git gc --auto`). Versions are not pinned on
# purpose: a rebuild picks up Debian security updates.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates libssl3 git tini ${RUNTIME_EXTRA_PACKAGES}; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 maestro; \
    useradd --system --uid 10001 --gid maestro --home-dir /home/maestro --create-home \
        --shell /usr/sbin/nologin maestro; \
    mkdir -p /app/data; \
    chown maestro:maestro /app/data; \
    chmod 0750 /app/data

WORKDIR /app

# Read-only application files, owned by root; only /app/data is writable by maestro.
COPY --from=builder /out/maestro /usr/local/bin/maestro
COPY --from=builder /app/config/ /app/config/
COPY --from=builder /app/migrations/ /app/migrations/
COPY --from=builder /app/templates_storage/ /app/templates_storage/

ENV MAESTRO_ENV=production \
    MAESTRO__SERVER__HOST=0.0.0.0 \
    MAESTRO__SERVER__PORT=8000 \
    MAESTRO__DATA_DIR=/app/data \
    MAESTRO__TEMPLATES__STORAGE_PATH=/app/templates_storage \
    HOME=/home/maestro

# SQLite database and template git repositories.
VOLUME ["/app/data"]

USER 10001:10001
EXPOSE 8000

# `maestro healthcheck` GETs http://127.0.0.1:$PORT/healthz and exits 0/1 (no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/maestro", "healthcheck"]

# Graceful shutdown: in-flight requests get server.shutdown_timeout_secs (30 s) to finish.
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/maestro"]
CMD ["serve"]
