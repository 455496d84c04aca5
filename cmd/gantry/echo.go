package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newEchoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "echo",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("echo is not built yet")
		},
	}
}
