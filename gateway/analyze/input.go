package analyze

import (
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// InputMessages turns the loader's diagnostics (files that could not be
// read, malformed YAML, schema violations at the field's own line,
// duplicates) into InvalidObject messages, so that they are reported with
// the findings about the rest of the input.
func InputMessages(diags []resource.Diagnostic) []Message {
	e := mustLookup(InvalidObject)
	out := make([]Message, 0, len(diags))
	for _, d := range diags {
		msg := d.Message
		if d.Field != "" {
			msg = d.Field + ": " + msg
		}
		m := Message{
			Code: InvalidObject, Level: e.Level,
			Kind: d.Key.Kind, Namespace: d.Key.Namespace, Name: d.Key.Name,
			File: d.Source.File, Line: d.Source.Line, Message: msg,
		}
		if m.Kind == "" {
			m.Kind, m.Name = "File", "-" // malformed YAML: no object to name
		}
		out = append(out, m)
	}
	return out
}

// Merge returns msgs and more in the order Analyze sorts messages in,
// without repeats.
func Merge(msgs, more []Message) []Message {
	all := slices.SortedFunc(slices.Values(slices.Concat(msgs, more)), less)
	return slices.CompactFunc(all, func(a, b Message) bool { return a == b })
}
