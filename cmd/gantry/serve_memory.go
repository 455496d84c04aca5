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
// configuration takes, and stays there. With --gc-headroom N (off by
// default) the policy sets the garbage collector's percent after every
// collection so that the heap may exceed the live heap by N percent of it,
// and by at least minHeadroom: memory stays near its level after start, at
// the price of more collections, each of which marks the whole live heap,
// so more CPU per change. GOGC in the environment turns the policy off (the
// operator chose), and GOMEMLIMIT still caps the heap either way.

// minHeadroom is the least headroom the policy gives: with a small
// configuration a percent of the live heap would make the collector run
// every few hundred kilobytes.
const minHeadroom = 16 << 20

// maxGCPercent is the most the policy sets: the runtime's default.
const maxGCPercent = 100

// liveHeapMetric is the heap the last collection found reachable.
const liveHeapMetric = "/gc/heap/live:bytes"

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
// best collected with the default headroom), until ctx ends: percent of the
// live heap, 0 keeps the runtime's default.
func startGCHeadroom(ctx context.Context, percent int, ready func() bool, log *slog.Logger) {
	if percent == 0 {
		return
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Info("GOGC is set: the GC headroom policy is off", "GOGC", v)
		return
	}
	go newGCHeadroom(ctx, percent, minHeadroom).startWhen(ready)
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

// startWhen polls ready, then adjusts the percent and follows every
// collection from then on.
func (h *gcHeadroom) startWhen(ready func() bool) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
	}
	h.adjust()
	h.arm()
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
	p := gcPercentFor(h.sample[0].Value.Uint64(), h.percent, h.least)
	// Setting the percent briefly stops the world: only when it moves by
	// more than a tenth.
	if diff := p - h.current; diff*10 > h.current || -diff*10 > h.current {
		h.current = p
		debug.SetGCPercent(p)
	}
}
