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
			benchOneChange(b, dir, [][]byte{content(tc.perFile/2, "/c0"), content(tc.perFile/2, "/c1")})
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
			benchOneChange(b, dir, [][]byte{content(500, "/c0"), longer})
		})
	}
}

// benchOneChange writes the versions of the first file of dir in turn and
// measures the provider's update for each write.
func benchOneChange(b *testing.B, dir string, versions [][]byte) {
	p := New(Options{Paths: []string{dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	files, _ := p.walk()
	if _, ok := p.update(files, burst{full: true}, true); !ok {
		b.Fatal("no initial event")
	}
	name := filepath.Join(dir, "routes-0.yaml")
	// A first change outside the measure: the provider's read buffer for
	// the next change, which the file's state takes over, is made once.
	if err := os.WriteFile(name, versions[1], 0o644); err != nil {
		b.Fatal(err)
	}
	p.update(files, burst{names: map[string]bool{name: true}}, false)
	var cpu time.Duration
	runtime.GC() // the setup's garbage is not the ops'
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := os.WriteFile(name, versions[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := benchcpu.Time()
		ev, ok := p.update(files, burst{names: map[string]bool{name: true}}, false)
		cpu += benchcpu.Time() - c0
		if !ok || len(ev.ChangedKeys) != 1 {
			b.Fatalf("op %d: event %v, changed %v", i, ok, ev.ChangedKeys)
		}
	}
	benchcpu.PerOp(b, cpu)
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
