// Package crds embeds the standard-channel Gateway API CustomResourceDefinitions
// of the pinned gateway-api module, its experimental channel's XMesh, and
// Gantry's own (security.gantry.io, copied from the chart). The loader
// validates every Gateway API and Gantry object against their OpenAPI schemas. Refresh with `go generate ./gateway/resource/crds`
// after changing the gateway-api version in go.mod or Gantry's API.
package crds

import "embed"

//go:generate ./update.sh

// FS holds one CustomResourceDefinition per file.
//
//go:embed gateway.networking.k8s.io_*.yaml security.gantry.io_*.yaml gateway.networking.x-k8s.io_xmeshes.yaml
var FS embed.FS
