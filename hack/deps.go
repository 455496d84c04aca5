//go:build tools

// Package hack pins modules that Gantry has chosen but whose users are not
// written yet, so that `go mod tidy` keeps their versions: cert-manager v1.21
// is for the mesh's cert-manager issuer (the built-in CA in mesh/ca exists).
package hack

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)
