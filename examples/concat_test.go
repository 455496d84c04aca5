// Package examples holds tests that apply to every example folder.
package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// TestFoldersConcatenateCleanly: `cat examples/<folder>/*.yaml` (what
// `kubectl apply -f -` or a pipe into gantry reads) holds the same objects
// as the files read one by one, so every file starts a new YAML document.
func TestFoldersConcatenateCleanly(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	folders := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := e.Name()
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			continue
		}
		folders++
		t.Run(dir, func(t *testing.T) {
			slices.Sort(files)
			var cat bytes.Buffer
			var separate []string
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				cat.Write(data)
				separate = append(separate, keys(t, f, data)...)
			}
			joined := keys(t, "cat.yaml", cat.Bytes())
			slices.Sort(separate)
			slices.Sort(joined)
			if !slices.Equal(separate, joined) {
				t.Errorf("the concatenated files hold %v,\nthe files one by one %v: start every file with ---", joined, separate)
			}
		})
	}
	if folders == 0 {
		t.Fatal("no example folder with YAML files")
	}
}

// keys loads data and lists its objects (and fails on any load error).
func keys(t *testing.T, name string, data []byte) []string {
	t.Helper()
	res, err := resource.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Errorf("%s: %s", name, e.String())
	}
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Key.String())
	}
	return out
}
