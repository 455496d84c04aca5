package file

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
)

var (
	propertySteps = flag.Int("property.steps", 600, "steps of TestRandomEditsEqualFullLoad")
	propertySeed  = flag.Uint64("property.seed", 14, "seed of TestRandomEditsEqualFullLoad")
)

// model is the folder of a random test: files of documents.
type model struct {
	files map[string][]string
	next  int // for new names
	rng   *rand.Rand
}

func (m *model) names() []string {
	var out []string
	for f := range m.files {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func (m *model) pick() string {
	n := m.names()
	return n[m.rng.IntN(len(n))]
}

// newDoc returns a document of a new object (or of no object), some with
// separators, comments or line ends of their own.
func (m *model) newDoc() string {
	m.next++
	switch m.rng.IntN(12) {
	case 0:
		return strings.Replace(slice(fmt.Sprintf("10.0.%d.%d", m.next/250, m.next%250)), "name: svc-1", fmt.Sprintf("name: s%d", m.next), 1)
	case 1:
		return fmt.Sprintf("# note %d\n", m.next)
	case 2:
		return fmt.Sprintf("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w%d}\n", m.next)
	case 3: // a separator with a comment, and an empty document before it
		return fmt.Sprintf("--- # c%d\n", m.next) + route(fmt.Sprintf("r%d", m.next), "/s")
	case 4: // a document that starts on its separator's line
		return fmt.Sprintf("--- {apiVersion: example.com/v1, kind: Widget, metadata: {name: i%d}}\n", m.next)
	case 5: // an end marker
		return route(fmt.Sprintf("r%d", m.next), "/m") + "...\n"
	case 6:
		return strings.ReplaceAll(route(fmt.Sprintf("r%d", m.next), "/crlf"), "\n", "\r\n")
	case 7:
		return m.broken(route(fmt.Sprintf("r%d", m.next), "/b"))
	default:
		return route(fmt.Sprintf("r%d", m.next), fmt.Sprintf("/p%d", m.next))
	}
}

// broken returns doc made invalid: an unknown field (the object's error)
// or a syntax error.
func (m *model) broken(doc string) string {
	if m.rng.IntN(2) == 0 {
		return strings.Replace(doc, "      port: 80\n", "      port: 80\n      bogus: true\n", 1)
	}
	return doc + "kind: [\n"
}

// name is the object a document defines ("" for none).
func docName(doc string) string {
	_, rest, ok := strings.Cut(doc, "metadata:\n  name: ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "\n")
	if strings.Contains(doc, "kind: EndpointSlice") {
		return "slice " + name
	}
	return "route " + name
}

func (m *model) defines(file, name string) bool {
	return name != "" && slices.ContainsFunc(m.files[file], func(d string) bool { return docName(d) == name })
}

// step applies one random edit and returns the files it touched.
func (m *model) step(t *testing.T) []string {
	f := m.pick()
	docs := m.files[f]
	if len(docs) > 0 && m.rng.IntN(2) == 0 {
		if m.editInFile(f, docs) {
			return []string{f}
		}
	}
	switch op := m.rng.IntN(9); {
	case op == 0 && len(docs) > 0: // edit a route's path
		i := m.rng.IntN(len(docs))
		if n := docName(docs[i]); strings.HasPrefix(n, "route ") {
			m.next++
			docs[i] = route(strings.TrimPrefix(n, "route "), fmt.Sprintf("/e%d", m.next))
		}
	case op == 1 && len(docs) > 0: // move or copy a document to another file
		i, g := m.rng.IntN(len(docs)), m.pick()
		if g == f || m.defines(g, docName(docs[i])) {
			return nil
		}
		d := docs[i]
		if m.rng.IntN(2) == 0 {
			m.files[f] = slices.Delete(docs, i, i+1)
		}
		j := m.rng.IntN(len(m.files[g]) + 1)
		m.files[g] = slices.Insert(m.files[g], j, d)
		return []string{f, g}
	case op == 2 && len(docs) > 0: // delete a document
		i := m.rng.IntN(len(docs))
		m.files[f] = slices.Delete(docs, i, i+1)
	case op == 3 && len(docs) > 1: // swap two documents
		i, j := m.rng.IntN(len(docs)), m.rng.IntN(len(docs))
		docs[i], docs[j] = docs[j], docs[i]
	case op == 4: // rename the file
		m.next++
		g := fmt.Sprintf("f%d.yaml", m.next)
		if err := os.Rename(f, g); err != nil {
			t.Fatal(err)
		}
		m.files[g] = docs
		delete(m.files, f)
		return []string{f, g}
	case op == 5 && len(m.files) > 1: // delete the file
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		delete(m.files, f)
		return []string{f}
	case op == 6: // a new file
		m.next++
		g := fmt.Sprintf("f%d.yaml", m.next)
		m.files[g] = []string{m.newDoc(), m.newDoc()}
		f = g
	default: // a new document
		j := m.rng.IntN(len(docs) + 1)
		m.files[f] = slices.Insert(docs, j, m.newDoc())
	}
	return []string{f}
}

// TestRandomEditsEqualFullLoad applies random edits (documents edited,
// moved and copied between files, deleted, swapped; files renamed, deleted
// and created; duplicates across files) and checks after every step that
// the provider's Set and diagnostics equal a full load of the folder, that
// every object whose content did not change kept its pointer, and that a
// step with no duplicate before or after it splices the Set (the changed
// files' objects between runs of the previous lists) rather than rebuilding
// it from every file.
func TestRandomEditsEqualFullLoad(t *testing.T) {
	randomEdits(t, 3, *propertySteps)
}

// TestRandomEditsOfLongListsEqualFullLoad is TestRandomEditsEqualFullLoad
// with lists of hundreds of objects, which the Set holds in several chunks:
// a spliced list holds its objects in other chunks than a full load's.
func TestRandomEditsOfLongListsEqualFullLoad(t *testing.T) {
	randomEdits(t, 100, *propertySteps/4)
}

// randomEdits runs the random edits of TestRandomEditsEqualFullLoad from
// six files of docs documents each.
func randomEdits(t *testing.T, docs, steps int) {
	s := newScanner(t, nil)
	t.Chdir(s.dir)
	m := &model{files: map[string][]string{}, rng: rand.New(rand.NewPCG(*propertySeed, 1))}
	for i := range 6 {
		for range docs {
			m.files[fmt.Sprintf("f%d.yaml", i)] = append(m.files[fmt.Sprintf("f%d.yaml", i)], m.newDoc())
		}
	}
	m.writeAll(t, m.names())
	s.dir, s.p.opts.Paths = ".", []string{"."}
	ev, _ := s.scan()
	s.checkFullLoad(ev)
	ref := reference{}
	ref.check(t, s, ev)
	dups, spliced, movedApart, listsSpliced, filesSpliced, longest := 0, 0, 0, 0, 0, 0
	for step := range steps {
		touched := m.step(t)
		m.writeAll(t, touched)
		prev, prevDups, rebuilds, files := ev.Set, len(s.p.dupDiags) > 0, s.p.rebuilds, len(s.p.layout)
		if step%4 == 0 {
			touched = nil // a full rescan
		}
		ev, _ = s.scan(touched...)
		if !ref.check(t, s, ev) {
			s.checkFullLoad(ev) // no file with errors: a full load is the reference
		}
		if len(s.p.dupDiags) > 0 {
			dups++
		}
		longest = max(longest, ev.Set.HTTPRoutes.Len())
		if prev != ev.Set && reflect.ValueOf(prev.Sources).Pointer() == reflect.ValueOf(ev.Set.Sources).Pointer() {
			spliced++ // lists spliced, Sources shared
			if ev.Set.Compact() != ev.Set {
				movedApart++ // objects moved, their places kept apart from Sources
			}
		}
		switch rebuilt := s.p.rebuilds > rebuilds; {
		case rebuilt && !prevDups && len(s.p.dupDiags) == 0:
			t.Fatalf("step %d: the Set was rebuilt from every file, with no duplicate before or after", step)
		case !rebuilt && prev.HTTPRoutes.Len()+ev.Set.HTTPRoutes.Len() > 0 && !sameVersion(prev.HTTPRoutes, ev.Set.HTTPRoutes):
			listsSpliced++
			if len(s.p.layout) != files || len(touched) > 1 {
				filesSpliced++ // a file created, removed or renamed, or two files changed
			}
		}
		old := pointers(prev)
		var changed []resource.Key // added, updated (a new pointer) or removed
		for k, v := range pointers(ev.Set) {
			if o, ok := old[k]; ok && o != v && reflect.DeepEqual(o, v) {
				t.Fatalf("step %d: %s is equal but a new pointer", step, k)
			}
			if o, ok := old[k]; !ok || o != v {
				changed = append(changed, k)
			}
			delete(old, k)
		}
		changed = slices.AppendSeq(changed, maps.Keys(old))
		if slices.SortFunc(changed, compareKeys); !slices.Equal(ev.ChangedKeys, changed) {
			t.Fatalf("step %d: changed keys %v, want %v", step, ev.ChangedKeys, changed)
		}
	}
	if dups == 0 || spliced == 0 || movedApart == 0 || filesSpliced == 0 {
		t.Fatalf("the steps made %d duplicates, %d spliced Sets (%d with moved places), %d with files added, removed or renamed: the test does not cover every path",
			dups, spliced, movedApart, filesSpliced)
	}
	t.Logf("%d steps with duplicates, %d Sets spliced with their Sources shared (%d with moved places kept apart), %d route lists spliced (%d with files added, removed, renamed or two files changed), at most %d routes",
		dups, spliced, movedApart, listsSpliced, filesSpliced, longest)
}

// editInFile makes an edit of one file's documents that the provider
// takes apart from the documents before and after it: documents added or
// removed at either end, lines added inside a document (the documents
// after it move), a document broken (its objects keep their last good
// state) or duplicated next to itself, the file emptied. It returns false
// when it made none.
func (m *model) editInFile(f string, docs []string) bool {
	i, last := m.rng.IntN(len(docs)), len(docs)-1
	switch m.rng.IntN(8) {
	case 0:
		m.files[f] = slices.Insert(docs, 0, m.newDoc())
	case 1:
		m.files[f] = append(docs, m.newDoc())
	case 2:
		m.files[f] = slices.Delete(docs, 0, 1)
	case 3:
		m.files[f] = docs[:last]
	case 4: // lines added (or taken back out) inside a document
		if strings.Contains(docs[i], "# added\n") {
			docs[i] = strings.Replace(docs[i], "# added\n", "", 1)
		} else if at := strings.IndexByte(docs[i], '\n'); at >= 0 && !strings.HasPrefix(docs[i], "---") {
			docs[i] = docs[i][:at+1] + "# added\n" + strings.Repeat("\n", m.rng.IntN(3)) + docs[i][at+1:]
		}
	case 5:
		docs[i] = m.broken(docs[i])
	case 6:
		m.files[f] = slices.Insert(docs, i, docs[i])
	default:
		if m.rng.IntN(4) > 0 {
			return false
		}
		m.files[f] = nil
	}
	return true
}

func (m *model) writeAll(t *testing.T, files []string) {
	for _, f := range files {
		if docs, ok := m.files[f]; ok {
			write(t, f, strings.Join(docs, "---\n"))
		}
	}
}

// reference is what the provider must yield, computed apart: each file
// parsed whole by resource.Parse when its bytes change; while the file has
// errors, the objects of its previous state that it no longer yields kept
// (their last good state); the files' objects assembled by
// resource.BuildSet.
type reference struct {
	files map[string]refFile
}

type refFile struct {
	data    string
	res     *resource.LoadResult
	objects []resource.Object
}

// check brings the reference up to the folder and compares the event with
// it. It reports whether a file has errors of its own.
func (r *reference) check(t *testing.T, s *scanner, ev Event) bool {
	t.Helper()
	files, _ := s.p.walk()
	next := make(map[string]refFile, len(files))
	var all []resource.Object
	var errs, warns []resource.Diagnostic
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rf, had := r.files[f]
		if !had || rf.data != string(data) {
			res, _ := resource.Parse(f, data)
			objs := res.Objects
			if len(res.Errors) > 0 && had {
				objs = withLastGood(objs, rf.objects)
			}
			rf = refFile{data: string(data), res: res, objects: objs}
		}
		next[f] = rf
		all = append(all, rf.objects...)
		errs = append(errs, rf.res.Errors...)
		warns = append(warns, rf.res.Warnings...)
	}
	r.files = next
	fileErrors := len(errs) > 0
	set, _, dups := resource.BuildSet(all)
	errs = append(errs, dups...)
	if !ev.Set.Equal(set) || !slices.Equal(objectList(ev.Set), objectList(set)) {
		t.Fatalf("Set differs from the reference:\n got %v\nwant %v", objectList(ev.Set), objectList(set))
	}
	if got, w := sortedDiags(ev.Errors), sortedDiags(errs); !slices.Equal(got, w) {
		t.Fatalf("errors differ from the reference:\n got %q\nwant %q", got, w)
	}
	if got, w := sortedDiags(ev.Warnings), sortedDiags(warns); !slices.Equal(got, w) {
		t.Fatalf("warnings differ from the reference:\n got %q\nwant %q", got, w)
	}
	return fileErrors
}

// withLastGood returns objs and then the objects of prev whose keys objs
// lacks.
func withLastGood(objs, prev []resource.Object) []resource.Object {
	out := slices.Clone(objs)
	for _, o := range prev {
		if !slices.ContainsFunc(objs, func(n resource.Object) bool { return n.Key == o.Key }) {
			out = append(out, o)
		}
	}
	return out
}
