# Multi-stage build: a static hydrant binary on a minimal, non-root image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hydrant ./cmd/hydrant && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hydrant /usr/local/bin/hydrant
# The data directory belongs to the non-root user, so a named volume mounted
# there starts writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/hydrant
USER nonroot:nonroot
WORKDIR /var/lib/hydrant
EXPOSE 4545
ENTRYPOINT ["/usr/local/bin/hydrant"]
CMD ["serve", "-c", "/etc/hydrant/hydrant.yaml"]
