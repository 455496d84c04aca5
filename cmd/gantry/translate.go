package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the subcommand lands; it refuses to run rather than pretend.
func newTranslateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "translate",
		Short: "(not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("translate is not built yet")
		},
	}
}
