package loop

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
)

// lockedBuffer is a log destination the loop goroutine writes while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPanicInABatchKeepsTheLastGoodConfiguration: a batch whose processing
// panics is recovered and counted, the log names the batch's changed
// objects (not their contents), the cache keeps serving the previous
// configuration, and the loop goes on with the next batch.
func TestPanicInABatchKeepsTheLastGoodConfiguration(t *testing.T) {
	good := mustParse(t, gatewayYAML+"---\n"+routesYAML)
	changed := mustParse(t, gatewayYAML+"---\n"+strings.Replace(routesYAML, "b.example.com", "secret-b.example.com", 1))
	var boom atomic.Bool
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	c := cache.New(cache.Options{})
	l := New(Options{Cache: c, ControllerName: translate.DefaultControllerName, Registry: reg,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		// Mesh translation calls it for every batch, before anything is built.
		MeshSecrets: func() []*ir.Secret {
			if boom.Load() {
				panic("injected failure")
			}
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event)
	go l.Run(ctx, events)
	k := cache.Key{Group: "gateway/default/gw", Flavor: cache.FlavorEnvoy}
	routes := func() (string, string) {
		rs, v := c.Resources(k, resourcev3.RouteType)
		var b strings.Builder
		for _, r := range rs {
			b.WriteString(r.Name + ":" + r.Hash + ":" + prototext.Format(r.Message))
		}
		return b.String(), v
	}

	events <- Event{Set: good}
	waitFor(t, "the first configuration", func() bool { return l.State().Ready })
	before, beforeVersion := routes()
	if !strings.Contains(before, "b.example.com") {
		t.Fatalf("first configuration: %s", before)
	}

	boom.Store(true)
	events <- Event{Set: changed}
	waitFor(t, "the panic to be counted", func() bool { return testutil.ToFloat64(l.panics) == 1 })
	if after, v := routes(); after != before || v != beforeVersion {
		t.Errorf("after the panic the cache serves version %s, want the last good one %s", v, beforeVersion)
	}
	if got := l.State().Set; got != good {
		t.Error("the published state moved to the batch that panicked")
	}
	log := logs.String()
	for _, want := range []string{"injected failure", "objects=\"[HTTPRoute default/b]\"", "previous configuration stays served"} {
		if !strings.Contains(log, want) {
			t.Errorf("panic log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "secret-b.example.com") {
		t.Error("the panic log holds an object's contents")
	}
	if n, err := testutil.GatherAndCount(reg, "gantry_loop_panics_total"); err != nil || n != 1 {
		t.Errorf("gantry_loop_panics_total registered %d times, error %v", n, err)
	}

	boom.Store(false)
	events <- Event{Set: changed}
	waitFor(t, "the next batch to be served", func() bool { _, v := routes(); return v != beforeVersion })
	if after, _ := routes(); !strings.Contains(after, "secret-b.example.com") {
		t.Errorf("the batch after the panic was not served: %s", after)
	}
}

func mustParse(t *testing.T, yaml string) *resource.Set {
	t.Helper()
	lr, err := resource.Parse("in.yaml", []byte(yaml))
	if err != nil || len(lr.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, lr.Errors)
	}
	return lr.Set
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
