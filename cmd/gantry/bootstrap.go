package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newBootstrapCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bootstrap",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("bootstrap is not built yet")
		},
	}
}
