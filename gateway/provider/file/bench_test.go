package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/benchcpu"
)

// benchWorld writes perFile routes into each of files files and returns the
// folder, and the content of the first file with route k's path set to p.
func benchWorld(b *testing.B, files, perFile int) (string, func(k int, p string) []byte) {
	dir := b.TempDir()
	content := func(f, k int, p string) []byte {
		var sb strings.Builder
		for i := f * perFile; i < (f+1)*perFile; i++ {
			path := "/p"
			if i == k {
				path = p
			}
			fmt.Fprintf(&sb, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r-%d, namespace: default}\n"+
				"spec:\n  parentRefs: [{name: gw}]\n  hostnames: [r-%d.example.com]\n"+
				"  rules: [{matches: [{path: {type: PathPrefix, value: %s}}], backendRefs: [{name: svc-%d, port: 8080}]}]\n", i, i, path, i%100)
		}
		return []byte(sb.String())
	}
	for f := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("routes-%d.yaml", f)), content(f, -1, ""), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, func(k int, p string) []byte { return content(0, k, p) }
}

// BenchmarkOneDocumentChanged is the provider's work for one route changed
// (the one in the middle) in a file of perFile routes (files files in the folder): reading the
// file the event names, splitting it, decoding the changed document and
// splicing the Set. cpu-ms/op counts that work only (not the file's write).
func BenchmarkOneDocumentChanged(b *testing.B) {
	for _, tc := range []struct{ files, perFile int }{{1, 1000}, {1, 10000}, {1, 30000}, {10, 1000}, {30, 1000}} {
		b.Run(fmt.Sprintf("docs-%d-in-%d-files", tc.files*tc.perFile, tc.files), func(b *testing.B) {
			dir, content := benchWorld(b, tc.files, tc.perFile)
			benchOneChange(b, filepath.Join(dir, "routes-0.yaml"), alternate(content(tc.perFile/2, "/c0"), content(tc.perFile/2, "/c1")))
		})
	}
}

// BenchmarkOneDocumentMoved is BenchmarkOneDocumentChanged with every
// other version of the changed route one line longer, so that the routes
// after it in its file move (their Sources change) with each change.
func BenchmarkOneDocumentMoved(b *testing.B) {
	for _, files := range []int{10, 30} {
		b.Run(fmt.Sprintf("docs-%d-in-%d-files", files*1000, files), func(b *testing.B) {
			dir, content := benchWorld(b, files, 1000)
			longer := bytes.Replace(content(500, "/c1"), []byte("/c1}}], backendRefs"), []byte("/c1}}],\n    backendRefs"), 1)
			benchOneChange(b, filepath.Join(dir, "routes-0.yaml"), alternate(content(500, "/c0"), longer))
		})
	}
}

// alternate returns the versions of a file for benchOneChange: a and b in
// turn.
func alternate(a, b []byte) func(i int) []byte {
	return func(i int) []byte {
		if i%2 == 0 {
			return a
		}
		return b
	}
}

// benchOneChange writes version(i) to name, a file of the provider's
// folder, before op i, and measures the provider's rescan for the burst
// naming it (the making and the write of the version are not measured).
// Op i must change one object.
func benchOneChange(b *testing.B, name string, version func(i int) []byte) {
	p := New(Options{Paths: []string{filepath.Dir(name)}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, ok := p.rescan(w, burst{full: true}, true); !ok {
		b.Fatal("no initial event")
	}
	// A first change outside the measure: the provider's read buffer for
	// the next change, which the file's state takes over, is made once.
	if err := os.WriteFile(name, version(-1), 0o644); err != nil {
		b.Fatal(err)
	}
	p.rescan(w, burst{names: map[string]bool{name: true}}, false)
	var cpu time.Duration
	runtime.GC() // the setup's garbage is not the ops'
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := os.WriteFile(name, version(i), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := benchcpu.Time()
		ev, ok := p.rescan(w, burst{names: map[string]bool{name: true}}, false)
		cpu += benchcpu.Time() - c0
		if !ok || len(ev.ChangedKeys) != 1 {
			b.Fatalf("op %d: event %v, changed %v", i, ok, ev.ChangedKeys)
		}
	}
	benchcpu.PerOp(b, cpu)
}

// servicesFile is a file of Services first to end-1, each followed by its
// EndpointSlice of two addresses, as hack/loopbench writes services.yaml;
// second holds the second addresses that differ from the first version's.
func servicesFile(first, end int, second map[int]string) []byte {
	var sb strings.Builder
	for s := first; s < end; s++ {
		addr := second[s]
		if addr == "" {
			addr = fmt.Sprintf("10.%d.%d.2", s/250, s%250)
		}
		fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: default}\n"+
			"spec: {ports: [{name: http, port: 8080, targetPort: 8080}]}\n"+
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"+
			"metadata: {name: svc-%d-1, namespace: default, labels: {kubernetes.io/service-name: svc-%d}}\n"+
			"addressType: IPv4\nports: [{name: http, port: 8080}]\n"+
			"endpoints: [{addresses: [10.%d.%d.1]}, {addresses: [%s]}]\n", s, s, s, s/250, s%250, addr)
	}
	return []byte(sb.String())
}

// endpointChanges returns the versions of a file of n Services for
// benchOneChange: version i gives the next Service (every seventh) a new
// second address, as hack/loopbench's endpoint changes do (the first new
// address of a Service is longer, so the file grows by two bytes with each
// of the first n changes).
func endpointChanges(n int) func(i int) []byte {
	second := map[int]string{}
	return func(i int) []byte {
		s := ((i + 1) * 7) % n
		second[s] = fmt.Sprintf("10.%d.%d.%d", 200+s/250%50, s%250, 3+(i+1)/n%250) // another on each visit
		return servicesFile(0, n, second)
	}
}

// BenchmarkOneEndpointChanged is the provider's work for one endpoint
// address changed in a file of Services and their EndpointSlices (300 or
// 3,000 of each; hack/loopbench's services.yaml at 3,000 and 30,000
// routes, 1.2 MB at 3,000): reading the file, comparing it with its last
// bytes, decoding the changed EndpointSlice and splicing the Set.
func BenchmarkOneEndpointChanged(b *testing.B) {
	for _, n := range []int{300, 3000} {
		b.Run(fmt.Sprintf("services-%d", n), func(b *testing.B) {
			dir := b.TempDir()
			name := filepath.Join(dir, "services.yaml")
			if err := os.WriteFile(name, servicesFile(0, n, nil), 0o644); err != nil {
				b.Fatal(err)
			}
			benchOneChange(b, name, endpointChanges(n))
		})
	}
}

// BenchmarkOneEndpointChangedBesideWarnings is BenchmarkOneEndpointChanged
// (300 Services) beside a file of 0 or 1,000 Deployments, a kind Gantry
// warns it ignores: what the other files' diagnostics add to a change.
func BenchmarkOneEndpointChangedBesideWarnings(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("warnings-%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte(deployments(n)), 0o644); err != nil {
				b.Fatal(err)
			}
			name := filepath.Join(dir, "services.yaml")
			if err := os.WriteFile(name, servicesFile(0, 300, nil), 0o644); err != nil {
				b.Fatal(err)
			}
			benchOneChange(b, name, endpointChanges(300))
		})
	}
}

// BenchmarkOneFileOfManyChanged is BenchmarkOneEndpointChanged with each
// Service and its EndpointSlice in a file of its own (hack/loopbench's
// -services-per-file 1), 300 or 3,000 files: what one changed file costs
// in a folder of many.
func BenchmarkOneFileOfManyChanged(b *testing.B) {
	for _, n := range []int{300, 3000} {
		b.Run(fmt.Sprintf("files-%d", n), func(b *testing.B) {
			dir := b.TempDir()
			for s := range n {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("services-%d.yaml", s)), servicesFile(s, s+1, nil), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			second := map[int]string{}
			benchOneChange(b, filepath.Join(dir, "services-7.yaml"), func(i int) []byte {
				second[7] = fmt.Sprintf("10.200.7.%d", 3+(i+1)%250)
				return servicesFile(7, 8, second)
			})
		})
	}
}

// BenchmarkWriteToEvent is the time from a file's write (an atomic rename,
// as editors and hack/loopbench save) to the provider's Event, with the
// default coalescing window (20 ms), one route changed in a file of 1,000:
// what the provider adds to a change's latency.
func BenchmarkWriteToEvent(b *testing.B) {
	dir, content := benchWorld(b, 1, 1000)
	versions := [][]byte{content(500, "/c0"), content(500, "/c1")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event)
	p := New(Options{Paths: []string{dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { _ = p.Run(ctx, events) }()
	<-events
	tmp := filepath.Join(b.TempDir(), "routes-0.yaml")
	b.ResetTimer()
	for i := range b.N {
		if err := os.WriteFile(tmp, versions[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "routes-0.yaml")); err != nil {
			b.Fatal(err)
		}
		if ev := <-events; len(ev.ChangedKeys) != 1 {
			b.Fatalf("changed %v", ev.ChangedKeys)
		}
	}
}

// BenchmarkParseWholeFile is what the provider did before for the same
// change: parse (and validate) every document of the file.
func BenchmarkParseWholeFile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("docs-%d", n), func(b *testing.B) {
			_, content := benchWorld(b, 0, n)
			data := content(-1, "")
			b.ReportAllocs()
			c0 := benchcpu.Time()
			for range b.N {
				if res, _ := resource.Parse("routes-0.yaml", data); len(res.Objects) != n {
					b.Fatalf("%d objects", len(res.Objects))
				}
			}
			benchcpu.PerOp(b, benchcpu.Time()-c0)
		})
	}
}
