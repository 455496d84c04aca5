// Package golden holds what Gantry's golden-file tests share: listing the
// cases of a testdata folder, reading per-case options from the leading
// "# key: value" comment lines of an input, comparing an output with its
// golden file (or rewriting the file under -update) and finding outputs left
// without an input.
package golden

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Case is one golden input: Path is the file, Name its base name without
// the input suffix.
type Case struct {
	Name string
	Path string
}

// Cases lists the files dir/*<suffix> in name order.
func Cases(t testing.TB, dir, suffix string) []Case {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatalf("golden inputs %s/*%s: %v", dir, suffix, err)
	}
	sort.Strings(paths)
	out := make([]Case, 0, len(paths))
	for _, p := range paths {
		out = append(out, Case{Name: strings.TrimSuffix(filepath.Base(p), suffix), Path: p})
	}
	return out
}

// Field is one "# key: value" line of an input's header.
type Field struct {
	Key   string
	Value string
}

// Header returns the "# key: value" comment lines at the top of data, in
// order, with key and value trimmed. It stops at the first line that is not
// a comment; comment lines without a colon are skipped.
func Header(data []byte) []Field {
	var out []Field
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		out = append(out, Field{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out
}

// Check compares got with the golden file at path and reports a difference
// (-want +got); with update set it writes got to path instead.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden %s (%s writes it): %v", path, updateCommand(), err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; %s rewrites it):\n%s", path, updateCommand(), d)
	}
}

// CheckOrphans reports every file dir/*<outSuffix> whose dir/*<inSuffix> does
// not exist.
func CheckOrphans(t testing.TB, dir, inSuffix, outSuffix string) {
	t.Helper()
	for _, out := range Cases(t, dir, outSuffix) {
		in := filepath.Join(dir, out.Name+inSuffix)
		if _, err := os.Stat(in); err != nil {
			t.Errorf("orphaned golden %s: no %s", out.Path, in)
		}
	}
}

// updateCommand is the command that rewrites the goldens of the package
// under test (tests run in their package's folder).
func updateCommand() string {
	dir, err := os.Getwd()
	if err != nil {
		return "go test -update"
	}
	root, err := moduleRoot(dir)
	if err != nil {
		return "go test -update"
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return "go test -update"
	}
	return "go test ./" + filepath.ToSlash(rel) + "/ -update"
}

// moduleRoot is the nearest folder at or above dir that holds a go.mod.
func moduleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod")
		}
		dir = parent
	}
}
