package resource

import (
	"bytes"
	"math/rand/v2"
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

// splitDocumentsByLine is the plain definition of splitDocuments: every
// line looked at in turn.
func splitDocumentsByLine(data []byte) []Document {
	var docs []Document
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); {
		next := len(data)
		if end := bytes.IndexByte(data[pos:], '\n'); end >= 0 {
			next = pos + end + 1
		}
		text := data[pos:next]
		if isSeparator(text) {
			docs = append(docs, Document{Data: data[start:pos], Line: startLine})
			start, startLine = next, line+1
			if rest := bytes.TrimSpace(text[3:]); len(rest) > 0 && rest[0] != '#' && text[0] == '-' {
				start, startLine = pos+3, line
			}
		}
		pos = next
		line++
	}
	return append(docs, Document{Data: data[start:], Line: startLine})
}

// TestSplitDocumentsEqualsByLine compares splitDocuments with the plain
// definition on random streams made of separator-like and ordinary lines.
func TestSplitDocumentsEqualsByLine(t *testing.T) {
	pieces := []string{"---", "--- ", "---\t# c", "--- {a: 1}", "...", "... x", "-", "- item", ".", ".x",
		"-- ", "----", "a: b", "  - x", "", " ---", "\r", "---\r", "#"}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 5000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
			switch rng.IntN(5) {
			case 0: // no line break: the pieces join
			case 1:
				b = append(b, "\r\n"...)
			default:
				b = append(b, '\n')
			}
		}
		got, want := splitDocuments(b), splitDocumentsByLine(b)
		if len(got) != len(want) {
			t.Fatalf("case %d %q: %d documents, want %d", i, b, len(got), len(want))
		}
		for k := range got {
			if !bytes.Equal(got[k].Data, want[k].Data) || got[k].Line != want[k].Line {
				t.Fatalf("case %d %q: document %d is %q at line %d, want %q at line %d", i, b, k, got[k].Data, got[k].Line, want[k].Data, want[k].Line)
			}
		}
	}
}
