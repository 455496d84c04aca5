package file

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fsnotify/fsnotify"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// scanner drives a Provider without a watcher: each step names the files
// an fsnotify burst would name (or none: every file is read again).
type scanner struct {
	t   *testing.T
	dir string
	p   *Provider
	w   *fsnotify.Watcher // watches what the provider asks, never read
}

func newScanner(t *testing.T, files map[string]string) *scanner {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		write(t, filepath.Join(dir, name), data)
	}
	p := New(Options{Paths: []string{dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return &scanner{t: t, dir: dir, p: p, w: w}
}

func (s *scanner) path(name string) string { return filepath.Join(s.dir, name) }

// scan runs one rescan for a burst naming names (relative to the
// folder); none means a full rescan.
func (s *scanner) scan(names ...string) (Event, bool) {
	s.t.Helper()
	b := burst{full: len(names) == 0}
	for _, n := range names {
		b.add(s.path(n))
	}
	return s.p.rescan(s.w, b, s.p.set == nil)
}

func (s *scanner) write(name, data string) { write(s.t, s.path(name), data) }

// checkFullLoad compares the provider's Set and diagnostics with a full
// load of the folder by resource.LoadWithDiagnostics.
func (s *scanner) checkFullLoad(ev Event) {
	s.t.Helper()
	want, err := resource.LoadWithDiagnostics(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	if !ev.Set.Equal(want.Set) || !slices.Equal(objectList(ev.Set), objectList(want.Set)) {
		s.t.Fatalf("Set differs from a full load:\n got %v\nwant %v", objectList(ev.Set), objectList(want.Set))
	}
	if got, w := sortedDiags(ev.Errors), sortedDiags(want.Errors); !slices.Equal(got, w) {
		s.t.Fatalf("errors differ from a full load:\n got %q\nwant %q", got, w)
	}
	if got, w := sortedDiags(ev.Warnings), sortedDiags(want.Warnings); !slices.Equal(got, w) {
		s.t.Fatalf("warnings differ from a full load:\n got %q\nwant %q", got, w)
	}
}

func objectList(s *resource.Set) []string {
	var out []string
	for _, o := range s.Objects() {
		out = append(out, o.Key.String()+"@"+o.Source.String())
	}
	return out
}

func sortedDiags(ds []resource.Diagnostic) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	slices.Sort(out)
	return out
}

// pointers maps every object of s to its pointer.
func pointers(s *resource.Set) map[resource.Key]any {
	m := map[resource.Key]any{}
	for _, o := range s.Objects() {
		m[o.Key] = o.Value
	}
	return m
}

func httpRoute(name string) resource.Key {
	return resource.Key{Kind: resource.KindHTTPRoute, Namespace: "default", Name: name}
}

func docs(ds ...string) string { return strings.Join(ds, "---\n") }

func TestUnchangedDocumentsKeepTheirPointers(t *testing.T) {
	s := newScanner(t, map[string]string{
		"routes.yaml": docs(route("r0", "/0"), route("r1", "/1"), route("r2", "/2")),
		"eps.yaml":    docs(slice("10.0.0.1")),
	})
	ev, _ := s.scan()
	s.checkFullLoad(ev)
	before := ev.Set
	s.write("routes.yaml", docs(route("r0", "/0"), route("r1", "/changed"), route("r2", "/2")))
	ev, ok := s.scan("routes.yaml")
	if !ok {
		t.Fatal("no event for a changed route")
	}
	s.checkFullLoad(ev)
	if !slices.Equal(ev.ChangedKeys, []resource.Key{httpRoute("r1")}) || !slices.Equal(ev.Changed, []string{"HTTPRoute"}) {
		t.Fatalf("changed %v %v, want HTTPRoute default/r1", ev.ChangedKeys, ev.Changed)
	}
	old, cur := pointers(before), pointers(ev.Set)
	for _, name := range []string{"r0", "r2"} {
		if old[httpRoute(name)] != cur[httpRoute(name)] {
			t.Errorf("route %s: a new pointer though its document did not change", name)
		}
	}
	if old[httpRoute("r1")] == cur[httpRoute("r1")] {
		t.Error("route r1: the same pointer though its document changed")
	}
	if !sameChunk(ev.Set.EndpointSlices.Chunks(), before.EndpointSlices.Chunks()) {
		t.Error("the EndpointSlices list was built again though no slice changed")
	}
	if reflect.ValueOf(ev.Set.Sources).Pointer() != reflect.ValueOf(before.Sources).Pointer() {
		t.Error("Sources was copied though no object moved")
	}

	// Only an EndpointSlice changes: the routes' list is shared.
	before = ev.Set
	s.write("eps.yaml", docs(slice("10.0.0.2")))
	ev, _ = s.scan("eps.yaml")
	s.checkFullLoad(ev)
	if !ev.EndpointsOnly() || !sameChunk(ev.Set.HTTPRoutes.Chunks(), before.HTTPRoutes.Chunks()) {
		t.Fatalf("endpoint change: EndpointsOnly=%v, routes shared=%v", ev.EndpointsOnly(), sameChunk(ev.Set.HTTPRoutes.Chunks(), before.HTTPRoutes.Chunks()))
	}
}

// TestOneRouteChangeSharesTheList: one changed document of a file of
// 2,000 routes makes a route list that shares every chunk but the one
// holding the route with the previous Set's.
func TestOneRouteChangeSharesTheList(t *testing.T) {
	routes := make([]string, 2000)
	for i := range routes {
		routes[i] = route("r"+strconv.Itoa(i), "/"+strconv.Itoa(i))
	}
	s := newScanner(t, map[string]string{"routes.yaml": docs(routes...)})
	ev, _ := s.scan()
	before := ev.Set
	routes[1234] = route("r1234", "/changed")
	s.write("routes.yaml", docs(routes...))
	ev, _ = s.scan("routes.yaml")
	s.checkFullLoad(ev)
	old, cur := before.HTTPRoutes.Chunks(), ev.Set.HTTPRoutes.Chunks()
	shared := 0
	for _, c := range cur {
		if slices.ContainsFunc(old, func(o []*gwapiv1.HTTPRoute) bool { return &o[0] == &c[0] }) {
			shared++
		}
	}
	if len(old) < 10 || shared != len(cur)-1 {
		t.Fatalf("%d of %d chunks shared with the previous list of %d chunks", shared, len(cur), len(old))
	}
}

func TestLayoutOnlyEdits(t *testing.T) {
	s := newScanner(t, map[string]string{"routes.yaml": docs(route("r0", "/0"), route("r1", "/1"))})
	ev, _ := s.scan()
	before := pointers(ev.Set)

	// A comment inside a document: decoded again, equal, same pointer, no event.
	s.write("routes.yaml", docs(route("r0", "/0"), strings.Replace(route("r1", "/1"), "spec:\n", "spec: # edited\n", 1)))
	if ev, ok := s.scan("routes.yaml"); ok || !reflect.DeepEqual(pointers(ev.Set), before) {
		t.Fatalf("comment edit: event=%v changed %v", ok, ev.ChangedKeys)
	}
	// Lines inserted above: the objects move, keep their pointers, and the
	// Set's Sources follow.
	s.write("routes.yaml", "# header\n\n"+docs(route("r0", "/0"), strings.Replace(route("r1", "/1"), "spec:\n", "spec: # edited\n", 1)))
	ev, ok := s.scan("routes.yaml")
	s.checkFullLoad(ev)
	if !ok || len(ev.ChangedKeys) != 0 || !reflect.DeepEqual(pointers(ev.Set), before) {
		t.Fatalf("lines inserted: event=%v changed %v", ok, ev.ChangedKeys)
	}
	if src, _ := ev.Set.SourceOf(httpRoute("r0")); src.Line != 3 {
		t.Fatalf("r0 at %v, want line 3", src)
	}
}

func TestMovesRenamesAndDeletions(t *testing.T) {
	r0, r1, r2 := route("r0", "/0"), route("r1", "/1"), route("r2", "/2")
	s := newScanner(t, map[string]string{"a.yaml": docs(r0, r1), "b.yaml": docs(r2)})
	ev, _ := s.scan()
	before := pointers(ev.Set)

	// r1 moves from a.yaml to the front of b.yaml, in one burst.
	s.write("a.yaml", r0)
	s.write("b.yaml", docs(r1, r2))
	ev, ok := s.scan("a.yaml", "b.yaml")
	s.checkFullLoad(ev)
	if !ok || len(ev.ChangedKeys) != 0 || !reflect.DeepEqual(pointers(ev.Set), before) {
		t.Fatalf("move: event=%v changed %v", ok, ev.ChangedKeys)
	}
	if src, _ := ev.Set.SourceOf(httpRoute("r1")); src != (resource.Source{File: s.path("b.yaml"), Line: 1}) {
		t.Fatalf("r1 at %v after the move", src)
	}

	// A rename: the old name is gone, the new one appears.
	if err := os.Rename(s.path("b.yaml"), s.path("c.yaml")); err != nil {
		t.Fatal(err)
	}
	ev, _ = s.scan("b.yaml", "c.yaml")
	s.checkFullLoad(ev)
	if len(ev.ChangedKeys) != 0 || !reflect.DeepEqual(pointers(ev.Set), before) {
		t.Fatalf("rename: changed %v", ev.ChangedKeys)
	}

	// Deleting a file deletes its objects.
	if err := os.Remove(s.path("a.yaml")); err != nil {
		t.Fatal(err)
	}
	ev, _ = s.scan("a.yaml")
	s.checkFullLoad(ev)
	if !slices.Equal(ev.ChangedKeys, []resource.Key{httpRoute("r0")}) {
		t.Fatalf("delete: changed %v", ev.ChangedKeys)
	}
	for text := range s.p.docs.m {
		if strings.Contains(text, "name: r0") {
			t.Fatal("the deleted document is still cached")
		}
	}
}

func TestDuplicatesAcrossFilesIncrementally(t *testing.T) {
	s := newScanner(t, map[string]string{"a.yaml": route("same", "/a"), "c.yaml": route("other", "/c")})
	ev, _ := s.scan()
	first := pointers(ev.Set)[httpRoute("same")]

	// A second definition in a later file: the first is kept and the second
	// reported, as a full load does.
	s.write("b.yaml", route("same", "/b"))
	ev, ok := s.scan("b.yaml")
	s.checkFullLoad(ev)
	if ok && len(ev.ChangedKeys) != 0 || len(ev.Errors) != 1 ||
		!strings.Contains(ev.Errors[0].String(), "b.yaml:1: HTTPRoute default/same: duplicate object: already defined at "+s.path("a.yaml")+":1") {
		t.Fatalf("duplicate: changed %v errors %v", ev.ChangedKeys, ev.Errors)
	}
	// Within one file too.
	s.write("c.yaml", docs(route("other", "/c"), route("other", "/c2")))
	ev, _ = s.scan("c.yaml")
	if len(ev.Errors) != 2 || !strings.Contains(ev.Errors[0].String(), "c.yaml:16: HTTPRoute default/other: duplicate object") {
		t.Fatalf("duplicate in one file: %v", ev.Errors)
	}
	// Another document of that file changes: the duplicate is still found.
	s.write("c.yaml", docs(route("other", "/c"), route("other", "/c2"), route("third", "/t")))
	ev, _ = s.scan("c.yaml")
	if len(ev.Errors) != 2 || !strings.Contains(ev.Errors[0].String(), "c.yaml:16: HTTPRoute default/other: duplicate object") {
		t.Fatalf("duplicate in one file after another edit: %v", ev.Errors)
	}
	s.write("c.yaml", docs(route("other", "/c"), route("third", "/t")))
	ev, _ = s.scan("c.yaml")
	s.checkFullLoad(ev)

	// The first goes away: the second takes its place.
	if err := os.Remove(s.path("a.yaml")); err != nil {
		t.Fatal(err)
	}
	ev, _ = s.scan("a.yaml")
	s.checkFullLoad(ev)
	if len(ev.Errors) != 0 || !slices.Equal(ev.ChangedKeys, []resource.Key{httpRoute("same")}) || pointers(ev.Set)[httpRoute("same")] == first {
		t.Fatalf("after removing the first: errors %v changed %v", ev.Errors, ev.ChangedKeys)
	}
	// Without duplicates the next change is spliced again.
	before := ev.Set
	s.write("c.yaml", docs(route("other", "/c3"), route("third", "/t")))
	ev, _ = s.scan("c.yaml")
	s.checkFullLoad(ev)
	if reflect.ValueOf(ev.Set.Sources).Pointer() != reflect.ValueOf(before.Sources).Pointer() {
		t.Fatal("Sources copied: the Set was rebuilt, not spliced")
	}
}

func TestBrokenDocumentKeepsTheOthers(t *testing.T) {
	s := newScanner(t, map[string]string{"routes.yaml": docs(route("r0", "/0"), route("r1", "/1"), route("r2", "/2"))})
	ev, _ := s.scan()
	before := pointers(ev.Set)

	bogus := strings.Replace(route("r1", "/1b"), "      port: 80\n", "      port: 80\n      bogus: true\n", 1)
	s.write("routes.yaml", docs(route("r0", "/0"), bogus, route("r2", "/2b")))
	ev, _ = s.scan("routes.yaml")
	got := pointers(ev.Set)
	if got[httpRoute("r0")] != before[httpRoute("r0")] || got[httpRoute("r1")] != before[httpRoute("r1")] {
		t.Fatal("r0 (unchanged) or r1 (broken: last good state) is not the previous object")
	}
	if got[httpRoute("r2")] == before[httpRoute("r2")] || !slices.Equal(ev.ChangedKeys, []resource.Key{httpRoute("r2")}) {
		t.Fatalf("r2 changed in the same file: changed %v", ev.ChangedKeys)
	}
	want := s.path("routes.yaml") + ":30: HTTPRoute default/r1: spec.rules[0].backendRefs[0].bogus: unknown field"
	if len(ev.Errors) != 1 || ev.Errors[0].String() != want {
		t.Fatalf("errors %v, want %s", ev.Errors, want)
	}
	// A syntax error in a document keeps the others too, with its line.
	s.write("routes.yaml", docs(route("r0", "/0"), "kind: [\n", route("r2", "/2b")))
	ev, _ = s.scan("routes.yaml")
	if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0].String(), "routes.yaml:16: malformed YAML") || ev.Set.HTTPRoutes.Len() != 3 {
		t.Fatalf("syntax error: %v, %d routes", ev.Errors, ev.Set.HTTPRoutes.Len())
	}
	// The same broken bytes at another line are reported at that line.
	s.write("routes.yaml", docs(route("r0", "/0"), route("r2", "/2b"), "kind: [\n"))
	ev, _ = s.scan("routes.yaml")
	if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0].String(), "routes.yaml:31: malformed YAML") {
		t.Fatalf("moved syntax error: %v", ev.Errors)
	}
	s.write("routes.yaml", docs(route("r0", "/0"), route("r1", "/1"), route("r2", "/2")))
	ev, _ = s.scan("routes.yaml")
	s.checkFullLoad(ev)
}

func TestListItemsKeepTheirPointers(t *testing.T) {
	list := func(a, b string) string {
		indent := func(s string) string {
			return "- " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
		}
		return "apiVersion: v1\nkind: List\nitems:\n" + indent(route("l0", a)) + indent(route("l1", b))
	}
	s := newScanner(t, map[string]string{"list.yaml": list("/a", "/b")})
	ev, _ := s.scan()
	s.checkFullLoad(ev)
	before := pointers(ev.Set)
	s.write("list.yaml", list("/a", "/b2"))
	ev, _ = s.scan("list.yaml")
	s.checkFullLoad(ev)
	got := pointers(ev.Set)
	if got[httpRoute("l0")] != before[httpRoute("l0")] || got[httpRoute("l1")] == before[httpRoute("l1")] ||
		!slices.Equal(ev.ChangedKeys, []resource.Key{httpRoute("l1")}) {
		t.Fatalf("List item change: changed %v", ev.ChangedKeys)
	}
}

// sameVersion reports whether a and b are one version of a list (the same
// chunk index), not two that may share chunks.
func sameVersion[T any](a, b plist.List[T]) bool {
	ca, cb := a.Chunks(), b.Chunks()
	return len(ca) == len(cb) && (len(ca) == 0 || &ca[0] == &cb[0])
}

// sameChunk reports whether two lists start with the same chunk (the same
// memory): a list shared, not built again.
func sameChunk[T any](a, b [][]T) bool {
	return len(a) > 0 && len(b) > 0 && &a[0][0] == &b[0][0]
}

// TestNamedKnownFilesSkipTheWalk checks that a burst naming only files the
// last walk listed reads them without walking the folder (a file created
// but not named is not seen), and that one naming a new or removed file
// walks it.
func TestNamedKnownFilesSkipTheWalk(t *testing.T) {
	s := newScanner(t, map[string]string{"a.yaml": route("a", "/a"), "b.yaml": route("b", "/b")})
	s.scan()
	s.write("c.yaml", route("c", "/c"))
	s.write("a.yaml", route("a", "/a2"))
	ev, _ := s.scan("a.yaml")
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a2", "b=/b"}) {
		t.Fatalf("after a.yaml changed: paths %v, want [/a2 /b] (c.yaml not named: no walk)", got)
	}
	ev, _ = s.scan("c.yaml")
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a2", "b=/b", "c=/c"}) {
		t.Fatalf("after c.yaml was named: paths %v, want [/a2 /b /c]", got)
	}
	if err := os.Remove(s.path("b.yaml")); err != nil {
		t.Fatal(err)
	}
	s.write("a.yaml", route("a", "/a3"))
	ev, _ = s.scan("a.yaml", "b.yaml")
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a3", "c=/c"}) {
		t.Fatalf("after b.yaml was removed: paths %v, want [/a3 /c]", got)
	}
	s.checkFullLoad(ev)
}
