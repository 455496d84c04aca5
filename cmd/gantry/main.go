// Command gantry is Gantry's single binary: the control plane (serve) and its
// tools (translate, analyze, proxy-config, bootstrap, echo, version).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gantry",
		Short:         "Gantry: a Gateway API control plane for Envoy, at the edge and in the mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// An explicit, ordered list: no init() registries.
	root.AddCommand(
		newServeCmd(),
		newTranslateCmd(),
		newAnalyzeCmd(),
		newProxyConfigCmd(),
		newInjectCmd(),
		newBootstrapCmd(),
		newProbeCmd(),
		newDashboardCmd(),
		newEchoCmd(),
		newVersionCmd(),
	)
	return root
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return exitRuntime
}
