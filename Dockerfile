# syntax=docker/dockerfile:1
#
# Escale in a container: one static-ish binary on Debian slim, data under /data.
#
#   docker build -t escale .
#   docker run -p 8080:8080 \
#     -e DATABASE_URL=postgres://escale@db/escale -e ESCALE_PUBLIC_URL=https://escale.example.fr escale
#   docker run -p 127.0.0.1:8080:8080 -v escale-demo:/data \
#     -e ESCALE_MODE=sandbox -e ESCALE_SANDBOX_PUBLIC=true escale       # demo (public admin password)
#   docker run --rm -v escale-data:/data escale audit verify            # any subcommand

# ---- Build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# build.rs fetches htmx with `npm install` at compile time.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Registry and target directory in BuildKit caches: a source change does not
# download or rebuild every dependency. build.rs silently builds without htmx
# when npm fails; the image must not, hence the check on its output.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    set -eu; \
    cargo build --release --locked --bin escale; \
    htmx="$(ls -t target/release/build/escale-*/out/htmx.min.js 2>/dev/null | head -n1)"; \
    if [ -z "$htmx" ] || [ ! -s "$htmx" ]; then \
        echo "htmx was not fetched from npm: refusing to build an image without it" >&2; exit 1; \
    fi; \
    install -m 0755 target/release/escale /usr/local/bin/escale

# ---- Runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 escale \
    && useradd --system --uid 10001 --gid escale --home-dir /data --no-create-home --shell /usr/sbin/nologin escale \
    && mkdir -p /data \
    && chown escale:escale /data

COPY --from=builder /usr/local/bin/escale /usr/local/bin/escale

# Production by default: the sandbox (demo administrator with a public
# password) listens on 0.0.0.0 only when asked explicitly.
ENV ESCALE_MODE=production \
    ESCALE_LISTEN=0.0.0.0:8080 \
    ESCALE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER escale
WORKDIR /data

# No curl in the image: bash's /dev/tcp sends a bare GET /healthz to the port
# of ESCALE_LISTEN and expects a 200 status line.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${ESCALE_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["escale"]
CMD ["serve"]
