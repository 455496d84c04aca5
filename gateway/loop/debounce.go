package loop

import (
	"context"
	"time"
)

// Debounce bounds: a batch is processed after QuietWindow without a new
// event, or MaxDelay after its first event, whichever comes first.
const (
	QuietWindow = 100 * time.Millisecond
	MaxDelay    = time.Second
)

// debounce merges bursts of provider events into batches.
func debounce(ctx context.Context, in <-chan Event, out chan<- Event, quiet, max time.Duration) {
	defer close(out)
	var pending *Event
	var quietT, maxT <-chan time.Time
	for {
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
			quietT = time.After(quiet)
			continue
		case <-quietT:
		case <-maxT:
		}
		select {
		case out <- *pending:
		case <-ctx.Done():
			return
		}
		pending, quietT, maxT = nil, nil, nil
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
