# syntax=docker/dockerfile:1
# The thoth-operator image: the release binary built without the `sandbox` feature (no in-memory API
# server, no test substrate), on a distroless runtime that runs as an unprivileged user.
#
#   docker build -t thoth-station/thoth-operator:0.1.0 .
#
# Images cannot be built on the project's build machines (no container runtime and no registry
# access); tests/it/install/ checks that the paths, the binary name and the build command below
# are the crate's.

# --- build -----------------------------------------------------------------------------------------
FROM docker.io/library/rust:1.94-bookworm AS build
WORKDIR /src
# Sources only (no target/, no .tools/); the lock file pins every dependency.
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/ crates/
COPY src/ src/
COPY migrations/ migrations/
COPY benches/ benches/
# rdkafka builds its bundled librdkafka with the C toolchain the rust image has, against the
# system OpenSSL (its `ssl` feature, for Kafka over TLS and SCRAM): libssl-dev and pkg-config, which
# the rust image normally has already; installing them says so.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin thoth-operator \
    && install -D -m 0555 target/release/thoth-operator /out/thoth-operator

# --- runtime ---------------------------------------------------------------------------------------
# glibc, libgcc and libssl3 (which the binary links for Kafka over TLS), CA certificates, a non-root
# user (65532), no shell or package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/thoth-operator /usr/local/bin/thoth-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/thoth-operator"]
CMD ["run"]
