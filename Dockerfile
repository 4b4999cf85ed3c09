# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a slim Debian with CA certificates only.
# The binary, the shipped tool specs and the web assets are baked in; the data dir (/data) is a volume.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin mcp-gateway

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway \
 && mkdir -p /data \
 && chown gateway /data
WORKDIR /app
COPY --from=build /src/target/release/mcp-gateway /usr/local/bin/mcp-gateway
COPY tool_specs ./tool_specs
ENV GATEWAY_BIND=0.0.0.0:8080 \
    GATEWAY_TOOL_SPECS=/app/tool_specs \
    GATEWAY_DATA_DIR=/data \
    ENVIRONMENT=production \
    LOG_FORMAT=json
USER gateway
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 CMD ["mcp-gateway", "healthcheck"]
ENTRYPOINT ["mcp-gateway"]
CMD ["serve"]
