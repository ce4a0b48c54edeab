# syntax=docker/dockerfile:1
#
# tallyfy-groups in a small image: a static (musl) binary on distroless/static, which carries the
# CA certificates HTTPS needs and a non-root user, and nothing else (no shell).
#
#   docker build -t tallyfy-groups .
#   docker run --rm -v "$PWD:/work" tallyfy-groups validate
#   docker run --rm -v "$PWD:/work" -e TALLYFY_CLIENT_ID -e TALLYFY_CLIENT_SECRET -e TALLYFY_ORG_ID tallyfy-groups plan
#
# Keep CA certificates in any image you derive from this one: the HTTP client verifies Tallyfy's
# certificate against the system's store (/etc/ssl/certs/ca-certificates.crt, or SSL_CERT_FILE).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
WORKDIR /src
# The Alpine image builds for the musl target, which links statically: the binary needs no libc.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tallyfy-groups \
    && cp target/release/tallyfy-groups /tallyfy-groups \
    && /tallyfy-groups --version

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="tallyfy-groups" \
      org.opencontainers.image.description="Keep the groups of a Tallyfy organization equal to a groups.yaml in Git" \
      org.opencontainers.image.source="https://github.com/tallyfy-groups/tallyfy-groups" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /tallyfy-groups /usr/local/bin/tallyfy-groups
# distroless's "nonroot" user and group.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/tallyfy-groups"]
CMD ["--help"]
