package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/resource"
)

// clusterInput is what --use-kube reads.
type clusterInput struct {
	set  *resource.Set
	crds []analyze.CRD
	// namespace is the kubeconfig context's namespace, the default for -n.
	namespace string
}

// readCluster reads the cluster of the current kubeconfig context. It needs
// the Kubernetes provider's one-shot read (kube.Snapshot), which has not
// landed; until it does, live analysis refuses clearly.
func readCluster(_ *cobra.Command, _ *analyzeFlags) (*clusterInput, error) {
	return nil, errors.New("live analysis (--use-kube) is not available yet in this build: analyze files with -f FILE|DIR|- instead")
}
