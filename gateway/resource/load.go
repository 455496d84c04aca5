package resource

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
)

// Diagnostic is one problem found while loading, tied to where it was found.
type Diagnostic struct {
	Source  Source `json:"source"`
	Key     Key    `json:"key"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String renders "file:line: Kind ns/name: field: message", leaving out the
// parts that are not known.
func (d Diagnostic) String() string {
	var parts []string
	if s := d.Source.String(); s != "" {
		parts = append(parts, s)
	}
	switch {
	case d.Key.Name != "":
		parts = append(parts, d.Key.String())
	case d.Key.Kind != "":
		parts = append(parts, d.Key.Kind)
	}
	if d.Field != "" {
		parts = append(parts, d.Field)
	}
	parts = append(parts, d.Message)
	return strings.Join(parts, ": ")
}

// Object is one decoded input object and where it was read from. Value is a
// pointer to the Go type the Set holds for its kind (*gwapiv1.HTTPRoute,
// *corev1.Service, ...).
type Object struct {
	Key    Key
	Source Source
	Value  any
}

// LoadResult is what loading produced: the Set of every object that decoded
// and validated, and the problems found. Objects lists the same objects in
// input order (files in the order given or walked, documents in file order).
type LoadResult struct {
	Set      *Set
	Warnings []Diagnostic
	Errors   []Diagnostic
	Objects  []Object
}

// DiagnosticsError is the error Load returns when inputs had errors; each
// diagnostic is one line.
type DiagnosticsError struct {
	Diagnostics []Diagnostic
}

func (e *DiagnosticsError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads files, directories (recursively: *.yaml, *.yml, *.json) and "-"
// (stdin). The returned Set holds every valid object even when err is a
// *DiagnosticsError listing the broken ones; I/O failures return a nil Set.
func Load(paths ...string) (*Set, error) {
	res, err := LoadWithDiagnostics(paths...)
	if err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return res.Set, &DiagnosticsError{Diagnostics: res.Errors}
	}
	return res.Set, nil
}

// LoadWithDiagnostics is Load that returns every warning and error as data.
// The error is only for paths that cannot be read.
func LoadWithDiagnostics(paths ...string) (*LoadResult, error) {
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	// Read every file first (stdin and I/O errors stay in order), then parse
	// them on every CPU; the results are merged in file order.
	data := make([][]byte, len(files))
	for i, f := range files {
		if data[i], err = readInput(f); err != nil {
			return nil, err
		}
	}
	parts := make([]*LoadResult, len(files))
	forEach(len(files), 1, func(i int) { parts[i] = parseFile(files[i], data[i]) })
	all := &LoadResult{}
	for _, res := range parts {
		all.Warnings = append(all.Warnings, res.Warnings...)
		all.Errors = append(all.Errors, res.Errors...)
		all.Objects = append(all.Objects, res.Objects...)
	}
	all.finish()
	return all, nil
}

// forEach calls fn(0..n-1) on up to GOMAXPROCS goroutines, one worker for
// every minPer items at least.
func forEach(n, minPer int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(minPer, 1))
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Parse reads one in-memory file named name. The error is reserved for
// future use; every problem in data is a diagnostic.
func Parse(name string, data []byte) (*LoadResult, error) {
	res := parseFile(name, data)
	res.finish()
	return res, nil
}

// finish builds the Set from Objects, reporting duplicates (the first wins).
func (r *LoadResult) finish() {
	set, kept, dups := BuildSet(r.Objects)
	r.Set = set
	r.Objects = kept
	r.Errors = append(r.Errors, dups...)
}

// BuildSet assembles a Set from objects in order. An object whose Key was
// already seen is left out and reported, naming both places. kept lists the
// objects that made it into the Set.
func BuildSet(objs []Object) (set *Set, kept []Object, dups []Diagnostic) {
	set = &Set{Sources: make(map[Key]Source, len(objs))}
	kept = make([]Object, 0, len(objs))
	byKind := map[*KindInfo][]any{}
	for _, o := range objs {
		if first, seen := set.Sources[o.Key]; seen {
			dups = append(dups, DuplicateDiagnostic(o, first))
			continue
		}
		info, ok := kindByName[o.Key.Kind]
		if !ok {
			continue
		}
		byKind[info] = append(byKind[info], o.Value)
		set.Sources[o.Key] = o.Source
		kept = append(kept, o)
	}
	for info, list := range byKind {
		info.put(set, list)
	}
	return set, kept, dups
}

// DuplicateDiagnostic reports o as a second definition of the object first
// defined at first.
func DuplicateDiagnostic(o Object, first Source) Diagnostic {
	return Diagnostic{
		Source:  o.Source,
		Key:     o.Key,
		Message: fmt.Sprintf("duplicate object: already defined at %s (the first definition is kept)", first),
	}
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// IsInputFile reports whether a directory walk picks up the file name.
func IsInputFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "#") || strings.HasSuffix(base, "~") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ExpandPaths turns the arguments into the ordered list of files to read:
// "-" (stdin) and files as given, whatever their extension; directories
// walked recursively (WalkDir). A file named twice is listed once.
func ExpandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		if p == "-" {
			files = append(files, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := WalkDir(p)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	return dedupe(files), nil
}

// dedupe drops repeated files (a folder given twice, or a file and its
// folder), keeping the first occurrence.
func dedupe(files []string) []string {
	seen := make(map[string]bool, len(files))
	out := files[:0]
	for _, f := range files {
		key := f
		if f != "-" {
			key = filepath.Clean(f)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	return out
}

// Dedupe is dedupe for the file provider.
func Dedupe(files []string) []string { return dedupe(files) }

// WalkDir lists the input files below dir in lexical order, skipping hidden
// directories and following symlinks to files (as in mounted ConfigMaps).
func WalkDir(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !IsInputFile(path) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, path)
		return nil
	})
	return files, err
}

// parseFile decodes every document of one file. It never stops at the first
// problem: a broken object is reported and the others still load.
func parseFile(name string, data []byte) *LoadResult {
	res := &LoadResult{}
	for _, part := range ParseDocuments(name, splitDocuments(data)) {
		res.Errors = append(res.Errors, part.Errors...)
		res.Warnings = append(res.Warnings, part.Warnings...)
		res.Objects = append(res.Objects, part.Objects...)
	}
	return res
}

// SplitDocuments cuts a file into its YAML documents, without parsing them.
func SplitDocuments(data []byte) []Document { return splitDocuments(data) }

// DocumentResult is what one document of a file decoded to: its objects (a
// List has several) and its problems, with the file's lines.
type DocumentResult struct {
	Objects  []Object
	Warnings []Diagnostic
	Errors   []Diagnostic
}

// ParseDocuments decodes documents of the file named file, one result per
// document, in order. Many documents are decoded on every CPU; the result
// does not depend on the scheduling. A document's result depends only on
// its bytes and its place (file and line): the file provider decodes only
// the documents whose bytes are new.
func ParseDocuments(file string, docs []Document) []DocumentResult {
	parts := make([]LoadResult, len(docs))
	forEach(len(docs), parallelMinDocs, func(i int) { parts[i].addDocument(file, docs[i]) })
	out := make([]DocumentResult, len(docs))
	for i, p := range parts {
		out[i] = DocumentResult{Objects: p.Objects, Warnings: p.Warnings, Errors: p.Errors}
	}
	return out
}

// parallelMinDocs is how many documents each extra worker needs to be worth it.
const parallelMinDocs = 64

func (r *LoadResult) addDocument(file string, doc Document) {
	node, line, err := parseDocument(doc)
	if err != nil {
		r.Errors = append(r.Errors, Diagnostic{Source: Source{File: file, Line: line}, Message: err.Error()})
		return
	}
	if node != nil {
		r.addNode(file, node)
	}
}

// addNode decodes one top-level node: an object or a List of objects.
func (r *LoadResult) addNode(file string, node *yaml.Node) {
	ctx := objectContext{file: file, node: node}
	if node.Kind != yaml.MappingNode {
		r.Errors = append(r.Errors, ctx.diag("", "document is not an object"))
		return
	}
	v, err := toValue(node)
	if err != nil {
		r.Errors = append(r.Errors, ctx.diag("", "%v", err))
		return
	}
	u := v.(map[string]any)
	if kind, _ := u["kind"].(string); strings.HasSuffix(kind, "List") {
		if items := child(node, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, item := range items.Content {
				r.addNode(file, item)
			}
			return
		}
	}
	obj, warns, errs := decodeObject(ctx, u)
	r.Warnings = append(r.Warnings, warns...)
	r.Errors = append(r.Errors, errs...)
	if obj == nil {
		return
	}
	meta, _ := u["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	r.Objects = append(r.Objects, Object{
		Key:    Key{Kind: u["kind"].(string), Namespace: ns, Name: name},
		Source: Source{File: file, Line: node.Line},
		Value:  obj,
	})
}
