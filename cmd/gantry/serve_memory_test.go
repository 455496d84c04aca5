package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live    uint64
		percent int
		least   uint64
		want    int
	}{
		{live: 0, percent: 10, least: minHeadroom, want: 100},
		{live: 8 * mib, percent: 10, least: minHeadroom, want: 100},    // 16 MiB is 200 %: capped
		{live: 128 * mib, percent: 10, least: minHeadroom, want: 12},   // 16 MiB of 128
		{live: 1024 * mib, percent: 10, least: minHeadroom, want: 10},  // the percent
		{live: 1024 * mib, percent: 25, least: minHeadroom, want: 25},  // another percent
		{live: 64 * mib, percent: 10, least: 0, want: 10},              // no least
		{live: 100 * mib, percent: 100, least: minHeadroom, want: 100}, // the default
	} {
		if got := gcPercentFor(c.live, c.percent, c.least); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d %%, %d MiB) = %d, want %d", c.live/mib, c.percent, c.least/mib, got, c.want)
		}
	}
}

func TestStartPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, held uint64
		floor      int
		want       int
	}{
		{live: 0, held: 100 * mib, floor: 10, want: 10},          // no live heap known
		{live: 100 * mib, held: 100 * mib, floor: 10, want: 10},  // nothing left over
		{live: 100 * mib, held: 90 * mib, floor: 10, want: 10},   // less held than live (raced)
		{live: 100 * mib, held: 130 * mib, floor: 10, want: 30},  // the start's share
		{live: 100 * mib, held: 105 * mib, floor: 10, want: 10},  // below the floor
		{live: 100 * mib, held: 500 * mib, floor: 10, want: 100}, // capped at the default
	} {
		if got := startPercent(c.live, c.held, c.floor); got != c.want {
			t.Errorf("startPercent(%d MiB live, %d MiB held, %d) = %d, want %d", c.live/mib, c.held/mib, c.floor, got, c.want)
		}
	}
}

func TestNextPercent(t *testing.T) {
	for _, c := range []struct{ current, p, want int }{
		{current: 100, p: 91, want: 100}, // within a tenth: kept
		{current: 100, p: 89, want: 89},
		{current: 20, p: 23, want: 23},
		{current: 20, p: 21, want: 20},
	} {
		if got := nextPercent(c.current, c.p); got != c.want {
			t.Errorf("nextPercent(%d, %d) = %d, want %d", c.current, c.p, got, c.want)
		}
	}
}

func TestCheckGCHeadroom(t *testing.T) {
	for _, p := range []int{0, 10, 100} {
		if err := checkGCHeadroom(p); err != nil {
			t.Errorf("--gc-headroom %d: %v", p, err)
		}
	}
	for _, p := range []int{-1, 101} {
		if err := checkGCHeadroom(p); err == nil {
			t.Errorf("--gc-headroom %d accepted", p)
		}
	}
}

// TestGCHeadroomFollowsCollections runs the policy in this process: once
// ready, it measures the start's headroom (at least the floor), a
// collection leads to that percent of the live heap, and the policy stops
// with its context. It changes the process's GC
// percent, so it restores it and does not run in parallel.
func TestGCHeadroomFollowsCollections(t *testing.T) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		t.Skipf("GOGC=%s is set: the policy is off by design (TestGCHeadroomOffWithGOGC)", v)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newGCHeadroom(ctx, 7, 0)
	ready := make(chan struct{})
	go h.startWhen(func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	})
	runtime.GC()
	time.Sleep(300 * time.Millisecond)
	if got := currentGCPercent(); got != 100 {
		t.Fatalf("GC percent %d before ready, want 100", got)
	}
	close(ready)
	for deadline := time.Now().Add(5 * time.Second); h.rounds.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the policy did not start once ready")
		}
	}
	measured := h.percent // set before the first round
	if measured < 7 || measured > maxGCPercent {
		t.Fatalf("percent after start %d, want the floor 7 to %d", measured, maxGCPercent)
	}
	want := nextPercent(100, measured)
	waitGCPercent(t, want)
	for deadline := time.Now().Add(5 * time.Second); h.rounds.Load() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("the policy followed %d collections, want 4", h.rounds.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	waitGCPercent(t, want)
	cancel()
	time.Sleep(100 * time.Millisecond) // a cleanup already running ends
	before := h.rounds.Load()
	for range 3 {
		runtime.GC()
	}
	time.Sleep(100 * time.Millisecond)
	if after := h.rounds.Load(); after != before {
		t.Errorf("the policy followed %d collections after it was stopped", after-before)
	}
}

func TestGCHeadroomOffWithGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startGCHeadroom(ctx, 5, func() bool { return true }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 3 {
		runtime.GC()
	}
	time.Sleep(300 * time.Millisecond)
	if got := currentGCPercent(); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want 100", got)
	}
}

func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitGCPercent waits (bounded) until the process's GC percent is want;
// the policy sets it from a cleanup, after a collection.
func waitGCPercent(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := currentGCPercent()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d, want %d", got, want)
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}
