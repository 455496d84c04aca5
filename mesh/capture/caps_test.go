package capture

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInstallCapabilities: Install needs CAP_NET_ADMIN and nothing else.
// Each case runs on a thread of its own, in a fresh network namespace,
// with only the listed capabilities effective (capabilities are per
// thread), then the thread exits.
func TestInstallCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace and choose the capabilities; not root")
	}
	o, err := Parse(Settings{ProxyUID: 1337, ProxyGID: 1337, OutboundPort: 15001, InboundPort: 15006,
		IncludeOutboundCIDRs: Setting{Value: "*"}, IncludeInboundPorts: Setting{Value: "*"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := Build(o)
	for _, c := range []struct {
		name  string
		caps  []int
		allow bool
	}{
		{name: "NET_ADMIN and NET_RAW", caps: []int{unix.CAP_NET_ADMIN, unix.CAP_NET_RAW}, allow: true},
		{name: "NET_ADMIN alone", caps: []int{unix.CAP_NET_ADMIN}, allow: true},
		{name: "NET_RAW alone", caps: []int{unix.CAP_NET_RAW}},
		{name: "none", caps: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			errc := make(chan error, 1)
			skip := make(chan string, 1)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
				if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
					skip <- "network namespaces are not available: " + err.Error()
					return
				}
				if err := setEffectiveCaps(c.caps); err != nil {
					skip <- "cannot set the thread's capabilities: " + err.Error()
					return
				}
				errc <- Install(rs)
			}()
			select {
			case msg := <-skip:
				t.Skip(msg)
			case err := <-errc:
				if c.allow && err != nil {
					t.Errorf("with %s: %v", c.name, err)
				}
				if !c.allow && !errors.Is(err, unix.EPERM) {
					t.Errorf("with %s: got %v, want operation not permitted", c.name, err)
				}
			}
		})
	}
}

// setEffectiveCaps makes exactly caps effective on the calling thread
// (permitted is left as it is).
func setEffectiveCaps(caps []int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective, data[1].Effective = 0, 0
	for _, c := range caps {
		data[c/32].Effective |= 1 << (c % 32)
	}
	return unix.Capset(&hdr, &data[0])
}
