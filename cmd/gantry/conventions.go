package main

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Exit codes, the same for every subcommand (documented in
// docs/user-guide.md and in each command's help).
const (
	exitOK         = 0 // success
	exitRuntime    = 1 // the command ran and failed (unreachable server, failed request, I/O)
	exitUsageError = 2 // bad flag or argument
	exitFindings   = 3 // analyze: messages at or above --failure-threshold
	exitBadInput   = 4 // the input could not be read (missing file, malformed YAML, invalid object)
)

// printObjects writes v as JSON (indented) or YAML.
func printObjects(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
