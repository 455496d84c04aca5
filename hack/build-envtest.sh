#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go modules into a cache folder, for envtest.
# Nothing but the Go module proxy is needed. Reuses the binaries when present.
#
#   hack/build-envtest.sh            # prints the folder (KUBEBUILDER_ASSETS)
#   hack/build-envtest.sh --with-controller-manager
#                                    # also kube-controller-manager (make conformance)
#   GANTRY_ENVTEST_DIR=/x hack/...   # choose the folder
set -euo pipefail

with_kcm=false
[ "${1:-}" = "--with-controller-manager" ] && with_kcm=true

K8S_VERSION=${K8S_VERSION:-1.37.2}
STAGING_VERSION=${STAGING_VERSION:-0.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
out=${GANTRY_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}}
mkdir -p "$out"

if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && { ! $with_kcm || [ -x "$out/kube-controller-manager" ]; }; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build_k8s builds one command of k8s.io/kubernetes (kube-apiserver,
# kube-controller-manager) in a module of its own; both use the same module
# versions and flags, so the second one reuses the packages the first compiled.
build_k8s() {
  local cmd=$1
  local d="$work/$cmd"
  mkdir -p "$d"
  cd "$d"
  cat > go.mod <<MOD
module gantry.local/envtest/$cmd

go 1.26

require k8s.io/kubernetes v${K8S_VERSION}
MOD
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with local replaces;
  # point each one at its published version instead.
  local mods
  mods=$(GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes@v${K8S_VERSION} >/dev/null 2>&1; \
    go mod download -json k8s.io/kubernetes@v${K8S_VERSION} | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(grep -oE '^\s+k8s.io/[a-z0-9-]+ => ./staging' "$mods" | awk '{print $1}' | sort -u); do
    echo "replace $m => $m v${STAGING_VERSION}" >> go.mod
  done
  cat > main.go <<GO
package main

import _ "k8s.io/kubernetes/cmd/$cmd/app"

func main() {}
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
  rm main.go
  local pkg=k8s.io/kubernetes/pkg/version ldf
  ldf="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.}"
  ldf="${ldf%.*}"
  ldf="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldf" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$out/$cmd.tmp" "$out/$cmd"
}

build_etcd() {
  local d="$work/etcd"
  mkdir -p "$d"
  cd "$d"
  cat > go.mod <<MOD
module gantry.local/envtest/etcd

go 1.26

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
  cat > main.go <<'GO'
package main

import _ "go.etcd.io/etcd/server/v3/etcdmain"

func main() {}
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
  rm main.go
  # etcd's main package lives in the top module; etcdmain.Main is the same entry point.
  mkdir -p cmd/etcd
  cat > cmd/etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" ./cmd/etcd
  mv "$out/etcd.tmp" "$out/etcd"
}

[ -x "$out/etcd" ] || (build_etcd) >&2
[ -x "$out/kube-apiserver" ] || (build_k8s kube-apiserver) >&2
if $with_kcm && [ ! -x "$out/kube-controller-manager" ]; then
  (build_k8s kube-controller-manager) >&2
fi
echo "$out"
