package resource

import (
	"strings"
	"testing"
)

// TestSyntaxErrorLines pins the file line a YAML syntax error names: the
// line of the offending construct (the parser's 0-based line plus one),
// never a line before the document or past its end.
func TestSyntaxErrorLines(t *testing.T) {
	const head = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n"
	tests := []struct {
		name, data string
		want       string
	}{
		{"bad indentation", head + " namespace: y\nspec: {}\n", "f.yaml:5: malformed YAML: did not find expected key"},
		{"unclosed flow mapping", head + "  labels: {a: b\nspec: {}\n", "f.yaml:5: malformed YAML: did not find expected ',' or '}'"},
		{"in the second document", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n" + head + " namespace: y\n", "f.yaml:9: malformed YAML: did not find expected key"},
		{"scanner error", head + "    bad: indent\n", "f.yaml:5: malformed YAML: mapping values are not allowed in this context"},
		{"unclosed at the end of the file", "kind: [\n", "f.yaml:1: malformed YAML: did not find expected node content"},
		{"unclosed before a separator", "apiVersion: v1\nkind: [\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", "f.yaml:2: malformed YAML: did not find expected node content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Parse("f.yaml", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range res.Errors {
				got = append(got, e.String())
			}
			if strings.Join(got, "\n") != tc.want {
				t.Errorf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}
