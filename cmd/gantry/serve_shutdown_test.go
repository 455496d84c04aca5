package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeReapsHostEnvoys: when serve returns, every Envoy the host infra
// started (the fake envoy script, and its own children) is gone and reaped,
// both for an Envoy that stops on SIGTERM and for one that ignores it.
func TestServeReapsHostEnvoys(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to list child processes: " + err.Error())
	}
	fake, err := filepath.Abs("../../gateway/infra/host/testdata/fake-envoy.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"run", "stubborn"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(t.TempDir(), "starts.log")
			t.Setenv("GANTRY_ENVOY", fake)
			t.Setenv("FAKE_ENVOY_LOG", logFile)
			t.Setenv("FAKE_ENVOY_MODE", mode)
			t.Setenv("GANTRY_HOST_INFRA", "")
			if err := os.WriteFile(filepath.Join(dir, "gw.yaml"), []byte(gatewayYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			o := &serveOptions{
				provider: "file", configDirs: []string{dir}, controllerName: "gantryproxy.io/gateway-controller",
				xdsAddress: freeLoopbackAddr(t), adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
				hostStopTimeout: 300 * time.Millisecond, identity: identityOptions{xdsInsecure: true},
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- runServe(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

			var pids []int
			deadline := time.Now().Add(15 * time.Second)
			for len(pids) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the host infra started no envoy")
				}
				time.Sleep(20 * time.Millisecond)
				pids = loggedPIDs(t, logFile, "ready") // its signal handling is in place
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not return")
			}
			// No envoy is left running, and none is left unreaped by serve (a
			// zombie child of this process). Envoy's own children that died
			// with it belong to init once their parent is gone; they must be
			// dead, but reaping them is init's job.
			// A SIGKILLed orphan may still be scheduled once before it dies,
			// so its state is read again for a moment; serve's own
			// children must already be reaped.
			self := os.Getpid()
			pids = loggedPIDs(t, logFile, "start")
			retryFor(t, 2*time.Second, "every process of the Envoys gone", func() error {
				for _, pid := range pids {
					for _, p := range processes(t) {
						if p.pid != pid && p.pgrp != pid {
							continue
						}
						if p.ppid == self {
							t.Fatalf("after serve returned, envoy %d's process %d (%s) is still serve's child, state %s", pid, p.pid, p.comm, p.state)
						}
						if p.state != "Z" {
							return fmt.Errorf("after serve returned, a process of envoy %d remains: pid %d state %s ppid %d (%s)", pid, p.pid, p.state, p.ppid, p.comm)
						}
					}
				}
				return nil
			})
		})
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago (the host infra needs a fixed xDS port).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// loggedPIDs reads the pids the fake envoy recorded ("<word> <pid> ...").
func loggedPIDs(t *testing.T, logFile, word string) []int {
	t.Helper()
	data, _ := os.ReadFile(logFile)
	var out []int
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == word {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("fake envoy log line %q", line)
			}
			out = append(out, pid)
		}
	}
	return out
}

type procInfo struct {
	pid, ppid, pgrp int
	state, comm     string
}

// processes lists every process from /proc (zombies included).
func processes(t *testing.T) []procInfo {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		out = append(out, procInfo{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0], comm: s[strings.IndexByte(s, '(')+1 : i]})
	}
	return out
}
