// Command gantry is Gantry's single binary: the control plane (serve) and its
// tools (translate, analyze, proxy-config, bootstrap, echo, agent, capture, version).
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
	var showVersion bool
	var output string
	root := &cobra.Command{
		Use:   "gantry",
		Short: "Gantry: a Gateway API control plane for Envoy, at the edge and in the mesh",
		Long: `Gantry: a Gateway API control plane for Envoy, at the edge and in the mesh.

Every command follows the same conventions (kubectl's and istioctl's):
  -f, --filename       input file, folder (recursive) or - for stdin; repeatable
  -n, --namespace, -A  where a namespace applies
  -o, --output         the format of what a command prints (table, json, yaml...)
  --kubeconfig, --context   where a command reads a cluster
Exit codes: 0 success, 1 the command failed at run time, 2 usage error,
3 findings (analyze), 4 the input could not be read.`,
		Args:          usageArgs(cobra.NoArgs),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return printVersion(cmd.OutOrStdout(), output)
			}
			return cmd.Help()
		},
	}
	root.Flags().BoolVar(&showVersion, "version", false, "print Gantry's version (as gantry version)")
	addOutputFlag(root.Flags(), &output, "text", versionFormats...)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
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
		newAgentCmd(),
		newCaptureCmd(),
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
