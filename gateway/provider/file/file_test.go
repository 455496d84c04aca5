package file

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
)

func route(name, path string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        value: %s
    backendRefs:
    - name: svc
      port: 80
`, name, path)
}

func slice(addr string) string {
	return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-1
  labels: {kubernetes.io/service-name: svc}
addressType: IPv4
endpoints:
- addresses: [%q]
ports:
- port: 8080
`, addr)
}

type harness struct {
	t      *testing.T
	dir    string
	events chan Event
	errc   chan error
}

func startProvider(t *testing.T, files map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		write(t, filepath.Join(dir, name), data)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, events: make(chan Event), errc: make(chan error, 1)}
	p := New(Options{Paths: []string{dir}, Coalesce: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { h.errc <- p.Run(ctx, h.events) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.errc; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	return h
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// next waits for the next event.
func (h *harness) next() Event {
	h.t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case err := <-h.errc:
		h.t.Fatalf("provider exited: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("no event within 10s")
	}
	return Event{}
}

func routePaths(s *resource.Set) []string {
	var out []string
	for r := range s.HTTPRoutes.Values() {
		out = append(out, r.Name+"="+*r.Spec.Rules[0].Matches[0].Path.Value)
	}
	slices.Sort(out)
	return out
}

func TestLifecycle(t *testing.T) {
	h := startProvider(t, map[string]string{"a.yaml": route("a", "/a"), "eps/slice.yaml": slice("10.0.0.1")})
	ev := h.next()
	if !ev.Initial || !slices.Equal(ev.Changed, []string{"EndpointSlice", "HTTPRoute"}) || ev.Set.HTTPRoutes.Len() != 1 {
		t.Fatalf("initial event: %+v", ev)
	}

	// add
	write(t, filepath.Join(h.dir, "sub/b.yaml"), route("b", "/b"))
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a", "b=/b"}) || !slices.Equal(ev.Changed, []string{"HTTPRoute"}) {
		t.Fatalf("after add: routes %v changed %v", got, ev.Changed)
	}

	// edit
	write(t, filepath.Join(h.dir, "a.yaml"), route("a", "/a2"))
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a2", "b=/b"}) {
		t.Fatalf("after edit: %v", got)
	}
	if len(ev.ChangedKeys) != 1 || ev.ChangedKeys[0] != (resource.Key{Kind: "HTTPRoute", Namespace: "default", Name: "a"}) {
		t.Fatalf("after edit: changed keys %v", ev.ChangedKeys)
	}

	// only an EndpointSlice changes
	write(t, filepath.Join(h.dir, "eps/slice.yaml"), slice("10.0.0.2"))
	ev = h.next()
	if !ev.EndpointsOnly() || ev.Set.EndpointSlices.At(0).Endpoints[0].Addresses[0] != "10.0.0.2" {
		t.Fatalf("after slice edit: EndpointsOnly=%v changed %v", ev.EndpointsOnly(), ev.Changed)
	}

	// break: the last good state is kept and the error names file:line
	broken := strings.Replace(route("a", "/a3"), "      port: 80\n", "      port: 80\n      bogus: true\n", 1)
	write(t, filepath.Join(h.dir, "a.yaml"), broken)
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a2", "b=/b"}) {
		t.Fatalf("after break: %v (want last good a=/a2)", got)
	}
	if !ev.DiagnosticsOnly() || len(ev.Errors) != 1 ||
		ev.Errors[0].String() != filepath.Join(h.dir, "a.yaml")+":15: HTTPRoute default/a: spec.rules[0].backendRefs[0].bogus: unknown field" {
		t.Fatalf("after break: errors %v, changed %v", ev.Errors, ev.ChangedKeys)
	}

	// a YAML syntax error keeps it too
	write(t, filepath.Join(h.dir, "a.yaml"), "kind: [\n")
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a2", "b=/b"}) || len(ev.Errors) != 1 ||
		!strings.Contains(ev.Errors[0].String(), "a.yaml:1: malformed YAML") {
		t.Fatalf("after syntax error: %v %v", got, ev.Errors)
	}

	// fix
	write(t, filepath.Join(h.dir, "a.yaml"), route("a", "/a4"))
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a4", "b=/b"}) || len(ev.Errors) != 0 {
		t.Fatalf("after fix: %v %v", got, ev.Errors)
	}

	// delete
	if err := os.Remove(filepath.Join(h.dir, "sub/b.yaml")); err != nil {
		t.Fatal(err)
	}
	ev = h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"a=/a4"}) || !slices.Equal(ev.Changed, []string{"HTTPRoute"}) {
		t.Fatalf("after delete: %v changed %v", got, ev.Changed)
	}

	// delete a whole folder
	if err := os.RemoveAll(filepath.Join(h.dir, "eps")); err != nil {
		t.Fatal(err)
	}
	ev = h.next()
	if ev.Set.EndpointSlices.Len() != 0 || !ev.EndpointsOnly() {
		t.Fatalf("after folder delete: %d slices, changed %v", ev.Set.EndpointSlices.Len(), ev.Changed)
	}
}

func TestRenameOnSave(t *testing.T) {
	h := startProvider(t, map[string]string{"r.yaml": route("r", "/one")})
	h.next()
	// The editor writes a temporary file and renames it over the original.
	tmp := filepath.Join(h.dir, ".r.yaml.swp")
	write(t, tmp, route("r", "/two"))
	if err := os.Rename(tmp, filepath.Join(h.dir, "r.yaml")); err != nil {
		t.Fatal(err)
	}
	ev := h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"r=/two"}) {
		t.Fatalf("after rename-on-save: %v", got)
	}
	// Backup-then-write: the original is renamed away and written anew.
	if err := os.Rename(filepath.Join(h.dir, "r.yaml"), filepath.Join(h.dir, "r.yaml~")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(h.dir, "r.yaml"), route("r", "/three"))
	for {
		ev = h.next()
		if got := routePaths(ev.Set); slices.Equal(got, []string{"r=/three"}) {
			break
		} else if len(got) != 0 {
			t.Fatalf("after backup-then-write: %v", got)
		}
	}
}

func TestDuplicateAcrossFilesAndWarnings(t *testing.T) {
	h := startProvider(t, map[string]string{
		"a.yaml": route("same", "/a"),
		"b.yaml": route("same", "/b") + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
	})
	ev := h.next()
	if got := routePaths(ev.Set); !slices.Equal(got, []string{"same=/a"}) {
		t.Fatalf("routes %v", got)
	}
	if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0].String(), "b.yaml:1: HTTPRoute default/same: duplicate object: already defined at "+filepath.Join(h.dir, "a.yaml")+":1") {
		t.Fatalf("errors %v", ev.Errors)
	}
	if len(ev.Warnings) != 1 || !strings.Contains(ev.Warnings[0].String(), "Widget w: unknown kind") {
		t.Fatalf("warnings %v", ev.Warnings)
	}
}

func TestMissingPath(t *testing.T) {
	p := New(Options{Paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if err := p.Run(context.Background(), make(chan Event)); err == nil {
		t.Fatal("Run on a missing path succeeded")
	}
}

func TestRootRemovedAndCreatedAgain(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "config")
	write(t, filepath.Join(root, "r.yaml"), route("r", "/one"))
	write(t, filepath.Join(parent, "unrelated.yaml"), route("x", "/x"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event)
	p := New(Options{Paths: []string{root}, Coalesce: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx, events) }()
	h := &harness{t: t, dir: root, events: events, errc: errc}

	if got := routePaths(h.next().Set); !slices.Equal(got, []string{"r=/one"}) {
		t.Fatalf("initial: %v", got)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if got := routePaths(h.next().Set); len(got) != 0 {
		t.Fatalf("after removing the folder: %v", got)
	}
	// An unrelated file next to the folder changes nothing.
	write(t, filepath.Join(parent, "unrelated.yaml"), route("x", "/y"))
	select {
	case ev := <-events:
		t.Fatalf("event for an unrelated file: %+v", ev.ChangedKeys)
	case <-time.After(300 * time.Millisecond):
	}
	write(t, filepath.Join(root, "r.yaml"), route("r", "/two"))
	for {
		got := routePaths(h.next().Set)
		if slices.Equal(got, []string{"r=/two"}) {
			break
		}
		if len(got) != 0 {
			t.Fatalf("after creating the folder again: %v", got)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// A mounted ConfigMap: the inputs are symlinks through "..data", which the
// kubelet swaps to a new folder; no event names the files themselves.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for v, path := range map[string]string{"..v1": "/one", "..v2": "/two"} {
		write(t, filepath.Join(dir, v, "r.yaml"), route("r", path))
	}
	root := filepath.Join(dir, "mount")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..v1", filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/r.yaml", filepath.Join(root, "r.yaml")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, errc := make(chan Event), make(chan error, 1)
	p := New(Options{Paths: []string{root}, Coalesce: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { errc <- p.Run(ctx, events) }()
	h := &harness{t: t, dir: root, events: events, errc: errc}
	if got := routePaths(h.next().Set); !slices.Equal(got, []string{"r=/one"}) {
		t.Fatalf("initial: %v", got)
	}
	tmp := filepath.Join(root, "..data_tmp")
	if err := os.Symlink("../..v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if got := routePaths(h.next().Set); !slices.Equal(got, []string{"r=/two"}) {
		t.Fatalf("after the swap: %v", got)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
