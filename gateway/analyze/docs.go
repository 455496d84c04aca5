package analyze

import (
	"fmt"
	"strings"
)

// Markers around the part of docs/analyzers.md that RenderCatalogue writes.
const (
	DocBegin = "<!-- BEGIN GENERATED: go test ./gateway/analyze -update -->"
	DocEnd   = "<!-- END GENERATED -->"
)

var areas = []struct{ prefix, title string }{
	{"GTY01", "References and attachment (01xx)"},
	{"GTY02", "Listeners and TLS (02xx)"},
	{"GTY03", "Routes and rules (03xx)"},
	{"GTY04", "Backends and Services (04xx)"},
	{"GTY05", "Classes and CRDs (05xx)"},
	{"GTY06", "Mesh (06xx)"},
	{"GTY07", "Authorization (07xx)"},
}

// RenderCatalogue writes the analyzer list and every code as Markdown, the
// generated part of docs/analyzers.md.
func RenderCatalogue() string {
	var b strings.Builder
	b.WriteString(DocBegin + "\n\n## Analyzers\n\n")
	b.WriteString("In the order they run (`gantry analyze -L`):\n\n| analyzer | checks | codes |\n| --- | --- | --- |\n")
	for _, a := range All() {
		var codes []string
		for _, e := range catalogue {
			if e.Analyzer == a.Name() {
				codes = append(codes, string(e.Code))
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", a.Name(), a.Description(), strings.Join(codes, ", "))
	}
	b.WriteString("\n## Codes\n")
	for _, area := range areas {
		fmt.Fprintf(&b, "\n### %s\n", area.title)
		for _, e := range catalogue {
			if !strings.HasPrefix(string(e.Code), area.prefix) {
				continue
			}
			fmt.Fprintf(&b, "\n#### %s %s\n\n", e.Code, e.Title)
			fmt.Fprintf(&b, "- Level: %s\n- Analyzer: `%s`\n- Meaning: %s\n- Fix: %s\n", e.Level, e.Analyzer, e.Meaning, e.Fix)
		}
	}
	b.WriteString("\n" + DocEnd + "\n")
	return b.String()
}
