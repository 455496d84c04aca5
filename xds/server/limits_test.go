package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// streamErr opens an ADS stream, sends reqs and returns the error the
// stream ends with (nil if it is still open after a while).
func streamErr[Req any, Resp any](t *testing.T, open func(context.Context) (interface {
	Send(Req) error
	Recv() (Resp, error)
}, error), reqs ...Req) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			break // the server ended the stream; Recv says why
		}
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(500 * time.Millisecond):
		return nil
	}
}

func (f *fixture) rejections(t *testing.T, limit string) float64 {
	return metricValue(t, f.reg, "gantry_xds_limit_rejections_total", limit)
}

// sotw opens a state-of-the-world ADS stream on the fixture's connection
// (the opener streamErr takes).
func (f *fixture) sotw(ctx context.Context) (interface {
	Send(*discoveryv3.DiscoveryRequest) error
	Recv() (*discoveryv3.DiscoveryResponse, error)
}, error) {
	return discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(ctx)
}

func node() *corev3.Node { return &corev3.Node{Id: "n", Cluster: group.Group} }

func TestLimitNamesPerRequest(t *testing.T) {
	f := startWith(t, Options{Limits: Limits{MaxNamesPerRequest: 3}})
	ok := &discoveryv3.DiscoveryRequest{Node: node(), TypeUrl: resource.ClusterType, ResourceNames: names("c", 3)}
	if err := streamErr(t, f.sotw, ok); err != nil {
		t.Fatalf("3 names: %v", err)
	}
	over := &discoveryv3.DiscoveryRequest{Node: node(), TypeUrl: resource.ClusterType, ResourceNames: names("c", 4)}
	if err := streamErr(t, f.sotw, over); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "more than 3") {
		t.Fatalf("4 names: %v, want ResourceExhausted", err)
	}
	if got := f.rejections(t, limitNamesPerRequest); got != 1 {
		t.Errorf("names_per_request rejections = %v, want 1", got)
	}
}

func TestLimitNamesPerStream(t *testing.T) {
	f := startWith(t, Options{Limits: Limits{MaxNamesPerStream: 5}})
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn)
	delta := func(ctx context.Context) (interface {
		Send(*discoveryv3.DeltaDiscoveryRequest) error
		Recv() (*discoveryv3.DeltaDiscoveryResponse, error)
	}, error) {
		return client.DeltaAggregatedResources(ctx)
	}
	sub := func(typ string, add, remove []string) *discoveryv3.DeltaDiscoveryRequest {
		return &discoveryv3.DeltaDiscoveryRequest{Node: node(), TypeUrl: typ, ResourceNamesSubscribe: add, ResourceNamesUnsubscribe: remove}
	}
	// 3 clusters + 2 routes, then one cluster swapped for another: 5 at most.
	if err := streamErr(t, delta, sub(resource.ClusterType, names("c", 3), nil), sub(resource.RouteType, names("r", 2), nil),
		sub(resource.ClusterType, []string{"c-9"}, []string{"c-0"})); err != nil {
		t.Fatalf("5 names: %v", err)
	}
	err := streamErr(t, delta, sub(resource.ClusterType, names("c", 3), nil), sub(resource.RouteType, names("r", 3), nil))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "6 resources") {
		t.Fatalf("6 names: %v, want ResourceExhausted", err)
	}
	if got := f.rejections(t, limitNamesPerStream); got != 1 {
		t.Errorf("names_per_stream rejections = %v, want 1", got)
	}
}

func TestLimitMessageSize(t *testing.T) {
	f := startWith(t, Options{Limits: Limits{MaxRecvBytes: 1024}})
	big := &discoveryv3.DiscoveryRequest{Node: node(), TypeUrl: resource.ClusterType, ResourceNames: []string{strings.Repeat("x", 2048)}}
	if err := streamErr(t, f.sotw, big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 2 KiB request with a 1 KiB limit: %v, want ResourceExhausted", err)
	}
	if got := f.rejections(t, limitMessageSize); got != 1 {
		t.Errorf("message_size rejections = %v, want 1", got)
	}
}

func TestLimitStreamsPerConnection(t *testing.T) {
	f := startWith(t, Options{Limits: Limits{MaxStreamsPerConnection: 2}})
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &discoveryv3.DiscoveryRequest{Node: node(), TypeUrl: resource.ClusterType}
	var cancels []context.CancelFunc
	for i := 0; i < 2; i++ {
		sctx, c := context.WithCancel(ctx)
		cancels = append(cancels, c)
		st, err := client.StreamAggregatedResources(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return f.openStreams() == 2 })
	if err := streamErr(t, f.sotw, req); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: %v, want ResourceExhausted", err)
	}
	if got := f.rejections(t, limitStreamsPerConnection); got != 1 {
		t.Errorf("streams_per_connection rejections = %v, want 1", got)
	}
	cancels[0]()
	waitFor(t, func() bool { return f.openStreams() == 1 })
	if err := streamErr(t, f.sotw, req); err != nil {
		t.Fatalf("a stream after one closed: %v", err)
	}
}

func (f *fixture) openStreams() int {
	f.srv.limiter.mu.Lock()
	defer f.srv.limiter.mu.Unlock()
	n := 0
	for _, c := range f.srv.limiter.streams {
		n += c
	}
	return n
}

// A stream's count is the sum of its types' subscriptions: a type's new
// size replaces its old one, and the limit counts every type.
func TestLimitSubscribedCount(t *testing.T) {
	s := &limitedStream{lm: newLimiter(Limits{MaxNamesPerStream: 5}, nil), counts: map[string]int{}}
	steps := []struct {
		typeURL string
		n, want int
		fails   bool
	}{
		{typeURL: resource.EndpointType, n: 3, want: 3},
		{typeURL: resource.ClusterType, n: 2, want: 5},
		{typeURL: resource.EndpointType, n: 1, want: 3},
		{typeURL: resource.ClusterType, n: 5, want: 6, fails: true},
	}
	for i, st := range steps {
		err := s.subscribed(st.typeURL, st.n)
		if s.total != st.want || (err != nil) != st.fails {
			t.Fatalf("step %d: total %d (want %d), error %v", i, s.total, st.want, err)
		}
	}
}
