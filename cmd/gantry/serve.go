package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("serve is not built yet")
		},
	}
}
