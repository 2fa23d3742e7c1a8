# Multi-stage build: hydrant, with its embedded SQL engine (DuckDB, linked
# statically; cgo, so glibc), on a minimal, non-root glibc image.
# The Go release must be at least go.mod's (the golang images set
# GOTOOLCHAIN=local); compose/compose_test.go checks it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/hydrant ./cmd/hydrant && mkdir -p /out/state

# No shell, no package manager; glibc and libstdc++ for the SQL engine;
# runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/hydrant /usr/local/bin/hydrant
# The data directory belongs to the non-root user, so a named volume mounted
# there starts writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/hydrant
USER nonroot:nonroot
WORKDIR /var/lib/hydrant
EXPOSE 4545
ENTRYPOINT ["/usr/local/bin/hydrant"]
CMD ["serve", "-c", "/etc/hydrant/hydrant.yaml"]
