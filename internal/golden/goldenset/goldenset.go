// Package goldenset loads the Gateway API inputs of golden tests
// (testdata/<case>.in.yaml) into a resource Set.
package goldenset

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/golden"
)

// Load parses the input file at path (its sources named by the file's base
// name) and returns it with the file's header fields. A golden input must
// load cleanly: every loader error is reported and the test stops.
func Load(t testing.TB, path string) (*resource.LoadResult, []golden.Field) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(filepath.Base(path), data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	for _, d := range res.Errors {
		t.Errorf("input error: %s", d)
	}
	if len(res.Errors) > 0 {
		t.FailNow()
	}
	return res, golden.Header(data)
}
