# syntax=docker/dockerfile:1
#
# The gantry image: one static binary on a distroless base, running as a
# non-root user. There is no shell or package manager in the final image.
#
#   docker build -t ghcr.io/gantryproxy/gantry:dev --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/gantryproxy/gantry:dev .
#
# charts/dockerfile_test.go checks these properties; the image itself is not
# built by the test suite (see docs/helm.md).

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gantry ./cmd/gantry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gantry /gantry
USER 65532:65532
# xDS (ADS) and metrics (/metrics, /healthz, /readyz); the admin port stays on loopback.
EXPOSE 18000 19001
ENTRYPOINT ["/gantry"]
