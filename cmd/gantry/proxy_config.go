package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newProxyConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "proxy-config",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("proxy-config is not built yet")
		},
	}
}
