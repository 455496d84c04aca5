package server

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/gantryproxy/gantry/xds/cache"
)

// callbacks are told of every stream's life: the tracker, wrapped by the
// guard when clients are authenticated. An error ends the stream (or the
// fetch) with that error.
type callbacks interface {
	OnStreamOpen(ctx context.Context, id int64, typeURL string) error
	OnStreamClosed(id int64, node *corev3.Node)
	OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error
	OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error
	OnDeltaStreamClosed(id int64, node *corev3.Node)
	OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error
	OnFetchRequest(ctx context.Context, req *discoveryv3.DiscoveryRequest) error
}

// A stream's state, per type, is what the protocol needs and no more: the
// subscription (a flag and a pointer to a set of names the cache interns
// and every stream with the same names shares), the nonce and version of
// the last response, and for delta what the node holds (a pointer into a
// list shared with the cache). Responses come from the cache through one
// channel per stream, in the cache's type order (clusters and endpoints
// before listeners and routes), and are sent in that order.

// pending is a response of the cache for one watch of a stream.
type pending struct {
	typeURL string
	gen     uint64
	resp    *cache.Response
}

// pendingChannel has room for a response of every type at once: a watch is
// answered at most once and a type has one open watch.
func pendingChannel() chan pending {
	return make(chan pending, len(cache.TypeOrder)+1)
}

// deliverTo returns the Deliver function of a watch: it queues the
// response tagged with the watch's generation, so a response of a watch
// the stream has since replaced is recognised and dropped. It never blocks
// (the cache calls it locked); should the channel be full (a client asking
// for more types than the cache serves), a goroutine waits to queue it
// until the stream ends.
func deliverTo(ch chan pending, done <-chan struct{}, typeURL string, gen uint64) func(*cache.Response) {
	return func(r *cache.Response) {
		p := pending{typeURL: typeURL, gen: gen, resp: r}
		select {
		case ch <- p:
		default:
			go func() {
				select {
				case ch <- p:
				case <-done:
				}
			}()
		}
	}
}

// receive reads requests of a stream into a channel, closed when the
// stream ends or fails.
func receive[Req any](ctx context.Context, recv func() (*Req, error)) <-chan *Req {
	ch := make(chan *Req)
	go func() {
		defer close(ch)
		for {
			req, err := recv()
			if err != nil {
				return
			}
			select {
			case ch <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// serve runs a stream's loop until the server stops, the client ends the
// stream or a step fails: queued responses are sent, requests handled,
// one at a time on the stream's goroutine.
func serve[Req any](ctx context.Context, recv func() (*Req, error), stop <-chan struct{}, ch <-chan pending,
	send func(pending) error, handle func(*Req) error) error {
	reqs := receive(ctx, recv)
	for {
		select {
		case <-stop:
			return nil
		case p := <-ch:
			if err := send(p); err != nil {
				return err
			}
		case req, ok := <-reqs:
			if !ok {
				return nil
			}
			if err := handle(req); err != nil {
				return err
			}
		}
	}
}
