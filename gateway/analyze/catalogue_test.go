package analyze

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const docPath = "../../docs/analyzers.md"

// TestDocMatchesCatalogue keeps docs/analyzers.md and the catalogue in step:
// the generated part of the document must equal RenderCatalogue().
func TestDocMatchesCatalogue(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	begin, end := strings.Index(text, DocBegin), strings.Index(text, DocEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s: generated section markers missing", docPath)
	}
	end += len(DocEnd) + 1
	want := RenderCatalogue()
	if got := text[begin:min(end, len(text))]; got != want {
		if *update {
			if err := os.WriteFile(docPath, []byte(text[:begin]+want+text[min(end, len(text)):]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is out of date with the catalogue: run go test ./gateway/analyze -update", docPath)
	}
}

func TestCatalogue(t *testing.T) {
	codeRe := regexp.MustCompile(`^GTY0[1-7][0-9]{2}$`)
	names := map[string]bool{}
	for _, a := range All() {
		if names[a.Name()] {
			t.Errorf("analyzer %s listed twice", a.Name())
		}
		names[a.Name()] = true
	}
	titles := map[string]bool{}
	for i, e := range catalogue {
		if !codeRe.MatchString(string(e.Code)) {
			t.Errorf("%s: bad code", e.Code)
		}
		if i > 0 && catalogue[i-1].Code >= e.Code {
			t.Errorf("%s: catalogue not sorted by code", e.Code)
		}
		if !names[e.Analyzer] {
			t.Errorf("%s: analyzer %q does not exist", e.Code, e.Analyzer)
		}
		if e.Title == "" || e.Meaning == "" || e.Fix == "" || titles[e.Title] {
			t.Errorf("%s: empty or duplicate title, meaning or fix", e.Code)
		}
		titles[e.Title] = true
		if got, ok := Lookup(e.Code); !ok || got.Code != e.Code {
			t.Errorf("Lookup(%s) failed", e.Code)
		}
	}
	if _, ok := Lookup("GTY9999"); ok {
		t.Error("Lookup found an unknown code")
	}
	for _, a := range All() {
		if !slices.ContainsFunc(catalogue, func(e Entry) bool { return e.Analyzer == a.Name() }) {
			t.Errorf("analyzer %s has no code", a.Name())
		}
	}
}
