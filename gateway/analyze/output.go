package analyze

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Format is an output form.
type Format string

// Output forms.
const (
	FormatLog  Format = "log"
	FormatJSON Format = "json"
	FormatYAML Format = "yaml"
)

// ParseFormat reads "log", "json" or "yaml".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatLog, FormatJSON, FormatYAML:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q (want log, json or yaml)", s)
}

// Write prints msgs in format f. The log form prints one line per message
// and nothing when there are none; json and yaml always print a list.
func Write(w io.Writer, msgs []Message, f Format) error {
	if msgs == nil {
		msgs = []Message{}
	}
	switch f {
	case FormatLog:
		for _, m := range msgs {
			if _, err := fmt.Fprintln(w, m.String()); err != nil {
				return err
			}
		}
		return nil
	case FormatJSON:
		b, err := json.MarshalIndent(msgs, "", "  ")
		if err != nil {
			return fmt.Errorf("marshal messages: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatYAML:
		b, err := yaml.Marshal(msgs)
		if err != nil {
			return fmt.Errorf("marshal messages: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", f)
}
