# obsctl's container image: built from source in a Rust image, run from slim Debian as a
# non-root user (uid 10001) with its state in the /var/lib/obsctl volume.
#
#   docker build -t obsctl --build-arg OBSCTL_BUILD_COMMIT=$(git rev-parse --short HEAD) .
#   docker run -d -p 5555:5555 -p 8433:8433 -e OBSCTL_API_TOKEN=... -v obsctl:/var/lib/obsctl obsctl
#
# RUST_IMAGE and RUNTIME_IMAGE choose the base images. BINARY names an image holding /out (the
# layout the build stage makes) to use instead of building: the tests pass one made from the
# binary they built, with a runtime base made from Debian's packages, since no image registry
# is reachable there.
ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARY=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
ARG OBSCTL_BUILD_COMMIT=unknown
RUN cargo build --release --locked -p obsctl \
 && install -D -m 0755 target/release/obsctl /out/usr/local/bin/obsctl \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
 && mkdir -p /out/var/lib/obsctl

FROM ${BINARY} AS binary

FROM ${RUNTIME_IMAGE}
COPY --from=binary /out/usr/local/bin/obsctl /usr/local/bin/obsctl
COPY --from=binary /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary --chown=10001:10001 /out/var/lib/obsctl /var/lib/obsctl
# Without a config (mount one and set OBSCTL_CONFIG, or put obsctl.toml in the volume), serve
# watches the container itself and says how to add services.
ENV OBSCTL_STORE_URL=sqlite:///var/lib/obsctl/obsctl.db \
    OBSCTL_SERVER_LISTEN=0.0.0.0:5555 \
    OBSCTL_MCP_LISTEN=0.0.0.0:8433 \
    HOME=/var/lib/obsctl
WORKDIR /var/lib/obsctl
USER 10001:10001
VOLUME ["/var/lib/obsctl"]
EXPOSE 5555 8433
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["obsctl", "-q", "health", "--serving"]
ENTRYPOINT ["obsctl"]
CMD ["serve"]
