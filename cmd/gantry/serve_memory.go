package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Gantry's heap holds its configuration (the live heap) and the garbage of
// the changes since the last collection. With the Go runtime's default
// (GOGC=100) the heap may grow to twice the live heap between collections,
// so the process's memory rises after start by as much as its
// configuration takes, and stays there. The policy (--gc-headroom N, on by
// default with 10) keeps the memory the process had once its first
// configuration was translated: it collects once then, measures the heap
// the runtime holds (live and free, not yet returned to the system) and
// from then on sets the garbage collector's percent after every collection
// so that the heap may exceed the live heap by the share the start left
// (at most the runtime's default), and by at least N percent of it and
// minHeadroom. Each collection marks the whole live heap, so a smaller
// headroom means more CPU per change. GOGC in the environment turns the
// policy off (the operator chose), and GOMEMLIMIT still caps the heap
// either way.

// minHeadroom is the least headroom the policy gives: with a small
// configuration a percent of the live heap would make the collector run
// every few hundred kilobytes.
const minHeadroom = 16 << 20

// maxGCPercent is the most the policy sets: the runtime's default.
const maxGCPercent = 100

// liveHeapMetric is the heap the last collection found reachable.
const liveHeapMetric = "/gc/heap/live:bytes"

// heldHeapMetrics are the heap memory the runtime holds from the system:
// objects (live or not yet swept), unused parts of spans, and free spans
// not yet returned.
var heldHeapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes", "/memory/classes/heap/free:bytes"}

// startPercent is the headroom, in percent of the live heap, that the
// heap held at start leaves over live, at least floor and at most the
// runtime's default.
func startPercent(live, held uint64, floor int) int {
	if live == 0 || held <= live {
		return floor
	}
	return int(min(max((held-live)*100/live, uint64(floor)), maxGCPercent))
}

// gcPercentFor is the GC percent that gives live bytes of live heap a
// headroom of percent of it, at least least bytes.
func gcPercentFor(live uint64, percent int, least uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	headroom := max(live*uint64(percent)/100, least)
	return int(min(max(headroom*100/live, uint64(percent)), maxGCPercent))
}

// gcHeadroom adjusts the GC percent after every collection.
type gcHeadroom struct {
	ctx     context.Context
	percent int
	// least is the least headroom, in bytes (minHeadroom).
	least   uint64
	current int
	sample  []metrics.Sample
	// rounds counts the collections followed.
	rounds atomic.Int64
}

// startGCHeadroom applies the headroom policy to this process once ready
// reports the first configuration translated (the initial load is a burst
// best collected with the default headroom), until ctx ends: the headroom
// the start left, at least percent of the live heap; 0 keeps the runtime's
// default.
func startGCHeadroom(ctx context.Context, percent int, ready func() bool, log *slog.Logger) {
	if percent == 0 {
		return
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Info("GOGC is set: the GC headroom policy is off", "GOGC", v)
		return
	}
	go func() {
		h := newGCHeadroom(ctx, percent, minHeadroom)
		if h.startWhen(ready) {
			log.Info("GC headroom policy: the heap may exceed the live heap by this share of it", "percent", h.percent, "least", percent)
		}
	}()
}

// checkGCHeadroom validates --gc-headroom.
func checkGCHeadroom(percent int) error {
	if percent < 0 || percent > maxGCPercent {
		return usageErr(fmt.Errorf("--gc-headroom %d: want 0 (off) to %d percent of the live heap", percent, maxGCPercent))
	}
	return nil
}

func newGCHeadroom(ctx context.Context, percent int, least uint64) *gcHeadroom {
	return &gcHeadroom{ctx: ctx, percent: percent, least: least, current: maxGCPercent,
		sample: []metrics.Sample{{Name: liveHeapMetric}}}
}

// startWhen polls ready, then measures the headroom the start left,
// adjusts the percent and follows every collection from then on. It
// reports whether it started (false when ctx ended first).
func (h *gcHeadroom) startWhen(ready func() bool) bool {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-h.ctx.Done():
			return false
		case <-tick.C:
		}
	}
	h.calibrate()
	h.adjust()
	h.arm()
	return true
}

// calibrate collects once (the live heap is then exact) and raises the
// percent to the headroom the heap held at start leaves over it.
func (h *gcHeadroom) calibrate() {
	runtime.GC()
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	for _, name := range heldHeapMetrics {
		sample = append(sample, metrics.Sample{Name: name})
	}
	metrics.Read(sample)
	for _, s := range sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
	}
	var held uint64
	for _, s := range sample[1:] {
		held += s.Value.Uint64()
	}
	h.percent = startPercent(sample[0].Value.Uint64(), held, h.percent)
}

// arm calls adjust after the next collection (until ctx ends): the cleanup
// of an object nothing refers to runs once a collection has found it
// unreachable, and it arms the next one.
func (h *gcHeadroom) arm() {
	if h.ctx.Err() != nil {
		return
	}
	runtime.AddCleanup(new(gcSentinel), func(h *gcHeadroom) { h.adjust(); h.arm() }, h)
}

// gcSentinel is large enough and holds a pointer, so that it is an
// allocation of its own (a tiny one may share a block and never be freed).
type gcSentinel struct {
	_ [4]*byte
}

// adjust sets the GC percent for the live heap the last collection found.
func (h *gcHeadroom) adjust() {
	if h.ctx.Err() != nil {
		return
	}
	h.rounds.Add(1)
	metrics.Read(h.sample)
	if h.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := nextPercent(h.current, gcPercentFor(h.sample[0].Value.Uint64(), h.percent, h.least))
	if p != h.current {
		h.current = p
		debug.SetGCPercent(p)
	}
}

// nextPercent is the GC percent to set when current is set and the policy
// computes p: setting it briefly stops the world, so p only when it moves
// by more than a tenth.
func nextPercent(current, p int) int {
	if diff := p - current; diff*10 > current || -diff*10 > current {
		return p
	}
	return current
}
