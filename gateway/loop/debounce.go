package loop

import (
	"context"
	"time"
)

// Debounce bounds: a batch is processed after QuietWindow without a new
// event, or MaxDelay after its first event, whichever comes first. A change
// costs the loop milliseconds (docs/benchmarks.md), so the window is short:
// it only needs to hold the events of one apply or one editor save
// together. Events that arrive while the loop is busy with the previous
// batch are merged into the next one, so a slow batch is followed by one
// batch of everything that came meanwhile, never by a batch of a stale Set.
const (
	QuietWindow = 30 * time.Millisecond
	MaxDelay    = time.Second
)

// debounce merges bursts of provider events into batches.
func debounce(ctx context.Context, in <-chan Event, out chan<- Event, quiet, max time.Duration) {
	defer close(out)
	var pending *Event
	var quietT, maxT <-chan time.Time
	var send chan<- Event // out once the batch is due, nil before
	for {
		var next Event
		if pending != nil {
			next = *pending
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-in:
			if !ok {
				return
			}
			if ev.ChangedAt.IsZero() {
				ev.ChangedAt = time.Now()
			}
			if pending == nil {
				pending = &ev
				maxT = time.After(max)
			} else {
				pending = merge(*pending, ev)
			}
			if send == nil {
				quietT = time.After(quiet)
			}
		case <-quietT:
			send, quietT, maxT = out, nil, nil
		case <-maxT:
			send, quietT, maxT = out, nil, nil
		case send <- next:
			pending, send = nil, nil
		}
	}
}

// merge folds a later event into an earlier one: the later Set wins, the
// earliest change time is kept, and the endpoint fast path holds only if
// every event in the batch allowed it.
func merge(a, b Event) *Event {
	b.EndpointsOnly = a.EndpointsOnly && b.EndpointsOnly
	b.Initial = a.Initial || b.Initial
	if a.ChangedAt.Before(b.ChangedAt) {
		b.ChangedAt = a.ChangedAt
	}
	return &b
}
