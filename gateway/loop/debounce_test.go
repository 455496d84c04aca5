package loop

import (
	"context"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
)

func TestDebounceMergesABurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan Event), make(chan Event, 8)
	go debounce(ctx, in, out, 80*time.Millisecond, time.Second)
	first := time.Now().Add(-time.Hour)
	last := &resource.Set{}
	in <- Event{EndpointsOnly: true, ChangedAt: first}
	in <- Event{EndpointsOnly: true, Initial: true}
	in <- Event{EndpointsOnly: false, Set: last}
	select {
	case b := <-out:
		if b.Set != last || b.EndpointsOnly || !b.Initial || !b.ChangedAt.Equal(first) {
			t.Errorf("merged batch = %+v; want the last Set, no endpoint fast path, initial, the first change time", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no batch")
	}
	select {
	case b := <-out:
		t.Fatalf("a burst gave a second batch: %+v", b)
	case <-time.After(200 * time.Millisecond):
	}
	in <- Event{EndpointsOnly: true}
	select {
	case b := <-out:
		if !b.EndpointsOnly {
			t.Error("a batch of endpoint changes lost the fast path")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no second batch")
	}
}

func TestDebounceBoundsTheDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan Event), make(chan Event, 64)
	go debounce(ctx, in, out, 100*time.Millisecond, 300*time.Millisecond)
	// An event every 20 ms never leaves a quiet window; the maximum delay
	// still flushes a batch about every 300 ms.
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		in <- Event{}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(out); n < 3 || n > 6 {
		t.Errorf("%d batches in 1.5 s of constant changes with a 300 ms bound; want about 5", n)
	}
}

// TestDebounceMergesWhileBusy: events that arrive while the loop has not
// taken the due batch (it is busy with the previous one) join that batch,
// so the loop gets the latest Set once, not a stale Set and then another.
func TestDebounceMergesWhileBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan Event), make(chan Event) // nobody reads out yet: the loop is busy
	go debounce(ctx, in, out, 10*time.Millisecond, time.Second)
	first := time.Now().Add(-time.Minute)
	in <- Event{ChangedAt: first, EndpointsOnly: true}
	time.Sleep(50 * time.Millisecond) // the batch is due
	latest := &resource.Set{}
	in <- Event{EndpointsOnly: true}
	in <- Event{Set: latest, EndpointsOnly: true}
	b := <-out
	if b.Set != latest || !b.ChangedAt.Equal(first) || !b.EndpointsOnly {
		t.Errorf("batch = %+v; want the latest Set, the first change time, the endpoint fast path", b)
	}
	select {
	case b := <-out:
		t.Fatalf("a second batch: %+v", b)
	case <-time.After(100 * time.Millisecond):
	}
}
