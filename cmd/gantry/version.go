package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/infra/host"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// versionInfo is what gantry version prints.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Envoy is the release serve downloads when asked (--envoy-download).
	Envoy string `json:"envoy"`
}

var versionFormats = []string{"text", "json", "yaml"}

func currentVersion() versionInfo {
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	return versionInfo{Version: version, Revision: rev, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Envoy: host.PinnedEnvoyVersion}
}

func printVersion(w io.Writer, format string) error {
	if err := checkOutput(format, versionFormats...); err != nil {
		return err
	}
	v := currentVersion()
	if format == "text" {
		_, err := fmt.Fprintf(w, "gantry %s (revision %s, %s, %s)\n", v.Version, v.Revision, v.Go, v.Platform)
		return err
	}
	return printObjects(w, format, v)
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print Gantry's version",
		Example: "  gantry version\n  gantry version -o json\n  gantry --version -o json",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), output)
		},
	}
	addOutputFlag(cmd.Flags(), &output, "text", versionFormats...)
	return cmd
}
