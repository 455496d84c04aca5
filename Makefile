# Gantry's developer entry points. `make help` lists them.
GO        ?= go
BIN       ?= bin/gantry
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
EXAMPLE   ?= examples/quickstart

.PHONY: help build test test-short lint vet bench run envtest cert-manager crds fuzz clean conformance

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/gantry
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gantry

envtest: ## build (or reuse) kube-apiserver and etcd for the Kubernetes tests
	@hack/build-envtest.sh >/dev/null

cert-manager: ## build (or reuse) cert-manager's controllers for the cert-manager tests
	@hack/build-cert-manager.sh >/dev/null

test: envtest cert-manager ## run every test: unit, golden, end to end (xDS), Kubernetes (envtest), cert-manager
	KUBEBUILDER_ASSETS=$$(hack/build-envtest.sh) GANTRY_CERT_MANAGER_CONTROLLER=$$(hack/build-cert-manager.sh) $(GO) test -count=1 -timeout 30m ./...

conformance: ## upstream Gateway API conformance suite against gantry serve --provider kube (envtest)
	hack/run-conformance.sh

test-short: ## unit and golden tests only
	$(GO) test -short ./...

vet: ## go vet (the module and the cert-manager test controller's module)
	$(GO) vet ./...
	cd hack/cert-manager-controller && $(GO) vet .

lint: vet ## gofmt, go vet, staticcheck (unused code included) and dead code; fails on any finding
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	hack/staticcheck.sh ./...
	hack/deadcode.sh ./...

bench: ## loading, translation, analyze, mesh and xDS benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/resource/ ./gateway/translate/ ./gateway/analyze/ ./mesh/translate/ ./xds/...

fuzz: ## fuzz YAML -> translate -> xDS, then tenant strings in every edge field, 60s each
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime 60s -fuzzminimizetime 50x ./gateway/translate/
	$(GO) test -run '^$$' -fuzz '^FuzzEdgeFields$$' -fuzztime 60s ./gateway/translate/

run: build ## run Gantry standalone on the quickstart example (echo backends included)
	hack/run-quickstart.sh $(BIN) $(EXAMPLE)

crds: ## regenerate the chart's CRDs (Gateway API from the pinned module, Gantry's from api/) and the loader's copies
	hack/gen-crds.sh charts/gantry/crds
	go generate ./gateway/resource/crds

clean:
	rm -rf bin
