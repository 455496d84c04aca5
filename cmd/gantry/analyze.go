package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newAnalyzeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "analyze",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("analyze is not built yet")
		},
	}
}
