package main

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A small in-process run: every client converges after the change, and the
// reconnect storm re-sends nothing.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the load tool's smoke run")
	}
	res, err := measure(loadOptions{clients: 40, deltaShare: 0.5, clusters: 10, quiet: 300 * time.Millisecond, inProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.convergence) != 40 {
		t.Fatalf("%d clients converged, want 40", len(res.convergence))
	}
	if res.convergence[0] <= 0 {
		t.Errorf("non-positive convergence time %v", res.convergence[0])
	}
	if res.responses != 0 || res.resent != 0 {
		t.Errorf("reconnect storm: %d responses, %d resent resources; want 0", res.responses, res.resent)
	}
	if len(res.endpointConvergence) != 40 || res.endpointCarried != 1 {
		t.Errorf("endpoint change: %d clients converged (want 40), largest EDS response %d resources (want 1)", len(res.endpointConvergence), res.endpointCarried)
	}
}

// The same run over mTLS: every client authenticates with the fleet's
// certificate and converges.
func TestSmallRunTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the load tool's smoke run")
	}
	res, err := measure(loadOptions{clients: 20, deltaShare: 0.5, clusters: 5, quiet: 300 * time.Millisecond, inProcess: true, tls: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.convergence) != 20 || res.resent != 0 {
		t.Fatalf("%d clients converged over mTLS (want 20), %d resent", len(res.convergence), res.resent)
	}
}

// -address: the clients load a server that is already running, subscribe to
// the names its group's clusters and listeners reference, and see a route
// change made on that server.
func TestRunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the load tool's smoke run")
	}
	srv, addr, err := startInProcess(7, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		fmt.Fprintln(srv.in, "quit")
		_ = srv.wait()
	}()
	o := loadOptions{clients: 20, deltaShare: 0.5, quiet: 300 * time.Millisecond, address: addr, group: loadGroup}

	clusters, routes, err := discover(mustConn(t, addr), loadGroup, 5*time.Second)
	if err != nil || len(clusters) != 7 || len(routes) != 1 || routes[0] != "rc" {
		t.Fatalf("discover: clusters %v routes %v err %v; want 7 clusters and route rc", clusters, routes, err)
	}

	t.Run("no change", func(t *testing.T) {
		res, err := measure(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.convergence != nil || res.responses != 0 || res.resent != 0 {
			t.Errorf("convergence %v, storm responses %d resent %d; want no change phase and nothing re-sent", res.convergence, res.responses, res.resent)
		}
	})
	t.Run("a change made on the server", func(t *testing.T) {
		o := o
		o.changeWait = 20 * time.Second
		stop := make(chan struct{})
		changed := make(chan struct{})
		go func() {
			defer close(changed)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				fmt.Fprintln(srv.in, "change")
				if _, err := srv.read("changed "); err != nil {
					return
				}
			}
		}()
		res, err := measure(o)
		close(stop)
		<-changed
		if err != nil {
			t.Fatal(err)
		}
		if len(res.convergence) != 20 || res.convergence[0] != 0 {
			t.Errorf("spread %v; want 20 clients, the first at 0", res.convergence)
		}
	})
	if _, err := measure(loadOptions{clients: 1, address: addr, group: "gateway/nowhere/gw", discoverTimeout: time.Second}); err == nil {
		t.Error("a group the server does not serve: no error")
	}
}

func mustConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
