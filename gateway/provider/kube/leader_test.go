package kube

import (
	"context"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/test/envtest"
)

// replica runs one leader-election participant and reports when it leads.
type replica struct {
	cancel  context.CancelFunc
	done    chan struct{}
	leading chan time.Time
}

func startReplica(t *testing.T, ns, lease, id string, hold bool) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{cancel: cancel, done: make(chan struct{}), leading: make(chan time.Time, 1)}
	go func() {
		defer close(r.done)
		err := RunLeaderElection(ctx, testAPI.Config, LeaderOptions{
			Namespace: ns, Name: lease, Identity: id, HoldLeaseOnStop: hold,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
			OnStartedLeading: func(context.Context) { r.leading <- time.Now() },
		})
		if err != nil {
			t.Errorf("replica %s: %v", id, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *replica) waitLeading(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-r.leading:
		return at
	case <-time.After(within):
		t.Fatalf("replica did not lead within %v", within)
	}
	return time.Time{}
}

// TestLeaderFailover measures how long a follower takes to lead after the
// leader stops: released Lease (graceful stop) and held Lease (crash).
func TestLeaderFailover(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "lease")
	for _, tc := range []struct {
		name string
		hold bool
		max  time.Duration
	}{
		{name: "graceful", hold: false, max: 1500 * time.Millisecond},
		{name: "crash", hold: true, max: 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startReplica(t, ns, tc.name, "a", tc.hold)
			a.waitLeading(t, 10*time.Second)
			b := startReplica(t, ns, tc.name, "b", tc.hold)
			select {
			case <-b.leading:
				t.Fatal("two leaders at once")
			case <-time.After(700 * time.Millisecond):
			}
			stopped := time.Now()
			a.cancel()
			<-a.done
			took := b.waitLeading(t, 10*time.Second).Sub(stopped)
			t.Logf("failover (%s, lease 2s, renew 1.5s, retry 0.2s): %v", tc.name, took.Round(time.Millisecond))
			if took > tc.max {
				t.Errorf("failover took %v, want <= %v", took, tc.max)
			}
		})
	}
}
