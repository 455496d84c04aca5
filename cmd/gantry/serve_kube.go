package main

import (
	"context"
	"errors"
	"log/slog"
)

// Placeholder until the Kubernetes wiring lands; that change replaces this
// whole file. It refuses to run rather than pretend.
func newKubeProvider(context.Context, *serveOptions, *slog.Logger) (providerWiring, error) {
	return providerWiring{}, errors.New("--provider kube is not wired yet; use --config-dir for the file provider")
}
