package capture

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// dialEnv makes the test binary a dialer (the proxy user's process in
// TestCaptureNetns): it dials the address, prints what answered, and exits.
const dialEnv = "GANTRY_CAPTURE_TEST_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(dialEnv); addr != "" {
		line, err := dialLine(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(line)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dialLine connects to addr and returns the line the listener wrote: its
// name and the original destination it read.
func dialLine(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

// netnsEnv is two network namespaces joined by a veth pair: "pod" (where
// the rules go, 10.77.0.1 and fd77::1) and "peer" (10.77.0.2 and fd77::2),
// which also holds the "Service cluster IPs" 10.96.0.10, 10.96.1.1,
// 10.96.7.7, fd96::10 and fd96::7 on its loopback; the pod routes 10.96.0.0/16
// and fd96::/64 through the veth.
type netnsEnv struct {
	pod, peer string
	podFD     int
	dialer    string // a copy of the test binary that any user may run
}

func newNetnsEnv(t *testing.T) *netnsEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("capture in a network namespace needs root (ip netns, veth, nftables); not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("capture in a network namespace needs iproute2's ip; not on PATH")
	}
	e := &netnsEnv{pod: fmt.Sprintf("gantry-cap-%d-pod", os.Getpid()), peer: fmt.Sprintf("gantry-cap-%d-peer", os.Getpid())}
	if out, err := exec.Command("ip", "netns", "add", e.pod).CombinedOutput(); err != nil {
		t.Skipf("network namespaces are not available: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", e.pod).Run() })
	ip(t, "netns", "add", e.peer)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", e.peer).Run() })
	for _, args := range [][]string{
		{"-n", e.pod, "link", "add", "veth-pod", "type", "veth", "peer", "name", "veth-peer", "netns", e.peer},
		{"-n", e.pod, "addr", "add", "10.77.0.1/24", "dev", "veth-pod"},
		{"-n", e.pod, "addr", "add", "fd77::1/64", "dev", "veth-pod", "nodad"},
		{"-n", e.pod, "link", "set", "lo", "up"},
		{"-n", e.pod, "link", "set", "veth-pod", "up"},
		{"-n", e.pod, "route", "add", "10.96.0.0/16", "via", "10.77.0.2"},
		{"-n", e.pod, "-6", "route", "add", "fd96::/64", "via", "fd77::2"},
		{"-n", e.peer, "addr", "add", "10.77.0.2/24", "dev", "veth-peer"},
		{"-n", e.peer, "addr", "add", "fd77::2/64", "dev", "veth-peer", "nodad"},
		{"-n", e.peer, "link", "set", "lo", "up"},
		{"-n", e.peer, "link", "set", "veth-peer", "up"},
		{"-n", e.peer, "addr", "add", "10.96.0.10/32", "dev", "lo"},
		{"-n", e.peer, "addr", "add", "10.96.1.1/32", "dev", "lo"},
		{"-n", e.peer, "addr", "add", "10.96.7.7/32", "dev", "lo"},
		{"-n", e.peer, "addr", "add", "fd96::10/128", "dev", "lo"},
		{"-n", e.peer, "addr", "add", "fd96::7/128", "dev", "lo"},
	} {
		ip(t, args...)
	}
	f, err := os.Open(filepath.Join("/run/netns", e.pod))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	e.podFD = int(f.Fd())
	e.dialer = copyForAnyUser(t)
	return e
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// copyForAnyUser copies the test binary where the proxy user may run it
// (go test's build folder is root's alone).
func copyForAnyUser(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dialer")
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// in runs fn on an OS thread that has entered the named namespace; sockets
// fn makes (and processes it starts) stay in that namespace. The thread is
// never handed back to the runtime (the goroutine ends locked, so it exits).
func in(t *testing.T, netns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", netns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// serve listens on addr in netns and answers every connection with
// "<name> <original destination>".
func (e *netnsEnv) serve(t *testing.T, netns, network, addr, name string) {
	t.Helper()
	var ln net.Listener
	var err error
	in(t, netns, func() { ln, err = net.Listen(network, addr) })
	if err != nil {
		t.Fatalf("listen %s %s in %s: %v", network, addr, netns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dst, err := OriginalDst(c.(*net.TCPConn))
			od := dst.String()
			if err != nil {
				od = "error:" + err.Error()
			}
			_, _ = io.WriteString(c, name+" "+od+"\n")
			c.Close()
		}
	}()
}

// dial connects from netns to addr, as root or, with cred, as that user,
// and returns the answer.
func (e *netnsEnv) dial(t *testing.T, netns, addr string, cred *syscall.Credential) string {
	t.Helper()
	var line string
	var err error
	in(t, netns, func() {
		if cred == nil {
			line, err = dialLine(addr)
			return
		}
		cmd := exec.Command(e.dialer, "-test.run=^$")
		cmd.Env = append(os.Environ(), dialEnv+"="+addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		var out []byte
		out, err = cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		line = strings.TrimSpace(string(out))
	})
	if err != nil {
		return "error: " + err.Error()
	}
	return line
}

// install parses args as `gantry capture` does and installs the rules in
// the pod namespace.
func (e *netnsEnv) install(t *testing.T, args ...string) RuleSet {
	t.Helper()
	rs, err := buildFromArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := Install(rs, nftables.WithNetNSFd(e.podFD)); err != nil {
		t.Fatalf("install %v: %v", args, err)
	}
	return rs
}

// checkKernel compares the capture tables in the pod namespace with rs:
// one table per family, the same chains and numbers of rules.
func (e *netnsEnv) checkKernel(t *testing.T, rs RuleSet) {
	t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(e.podFD))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tb := range tables {
		got = append(got, fmt.Sprintf("%d/%s", tb.Family, tb.Name))
	}
	want := []string{}
	for _, tb := range rs.Tables {
		want = append(want, fmt.Sprintf("%d/%s", nftFamily(tb.Family), TableName))
		for _, c := range tb.Chains {
			rules, err := conn.GetRules(&nftables.Table{Family: nftFamily(tb.Family), Name: TableName}, &nftables.Chain{Name: c.Name})
			if err != nil {
				t.Fatalf("rules of %s %s: %v", tb.Family, c.Name, err)
			}
			if len(rules) != len(c.Rules) {
				t.Errorf("table %s chain %s: %d rules in the kernel, want %d", tb.Family, c.Name, len(rules), len(c.Rules))
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("tables in the pod namespace: %v, want %v", got, want)
	}
}

var (
	proxyUser = &syscall.Credential{Uid: DefaultProxyUID, Gid: DefaultProxyGID}
	proxyUID  = &syscall.Credential{Uid: DefaultProxyUID, Gid: 1339}
	proxyGrp  = &syscall.Credential{Uid: 1338, Gid: DefaultProxyGID}
	appUser   = &syscall.Credential{Uid: 1000, Gid: 1000}
)

// probe is one connection and where it must land.
type probe struct {
	from string // "pod" or "peer"
	addr string
	cred *syscall.Credential
	want string
}

func (e *netnsEnv) check(t *testing.T, probes []probe) {
	t.Helper()
	for _, p := range probes {
		ns := map[string]string{"pod": e.pod, "peer": e.peer}[p.from]
		who := "root"
		if p.cred != nil {
			who = fmt.Sprintf("uid %d gid %d", p.cred.Uid, p.cred.Gid)
		}
		if got := e.dial(t, ns, p.addr, p.cred); got != p.want {
			t.Errorf("from %s as %s to %s: got %q, want %q", p.from, who, p.addr, got, p.want)
		}
	}
}

// TestCaptureNetns installs the rules with Install in a network namespace
// and checks where real connections land.
func TestCaptureNetns(t *testing.T) {
	e := newNetnsEnv(t)
	for _, l := range []struct{ ns, port, name string }{
		{e.pod, "15001", "outbound"}, {e.pod, "15006", "inbound"},
		{e.pod, "9080", "app"}, {e.pod, "9443", "app"}, {e.pod, "15020", "agent"},
		{e.peer, "80", "peer"}, {e.peer, "5432", "peer"},
	} {
		e.serve(t, l.ns, "tcp4", "0.0.0.0:"+l.port, l.name)
		e.serve(t, l.ns, "tcp6", "[::]:"+l.port, l.name)
	}
	// Without rules, everything reaches its destination.
	e.check(t, []probe{
		{from: "pod", addr: "10.96.0.10:80", want: "peer 10.96.0.10:80"},
		{from: "peer", addr: "10.77.0.1:9080", want: "app 10.77.0.1:9080"},
	})

	rs := e.install(t, "--exclude-outbound-ports=5432", "--exclude-outbound-cidrs=10.96.7.0/24,fd96::7",
		"--exclude-inbound-ports=9443")
	e.checkKernel(t, rs)
	t.Run("defaults", func(t *testing.T) {
		e.check(t, []probe{
			// The application's outbound connections, as root and as another user.
			{from: "pod", addr: "10.96.0.10:80", want: "outbound 10.96.0.10:80"},
			{from: "pod", addr: "10.96.0.10:5432", want: "peer 10.96.0.10:5432"},
			{from: "pod", addr: "10.96.1.1:80", cred: appUser, want: "outbound 10.96.1.1:80"},
			{from: "pod", addr: "[fd96::10]:80", want: "outbound [fd96::10]:80"},
			// Excluded ports and CIDRs.
			{from: "pod", addr: "10.96.7.7:80", want: "peer 10.96.7.7:80"},
			{from: "pod", addr: "[fd96::7]:80", want: "peer [fd96::7]:80"},
			// The proxy user (or group) reaches the real destination.
			{from: "pod", addr: "10.96.0.10:80", cred: proxyUser, want: "peer 10.96.0.10:80"},
			{from: "pod", addr: "[fd96::10]:80", cred: proxyUser, want: "peer [fd96::10]:80"},
			{from: "pod", addr: "10.96.0.10:80", cred: proxyUID, want: "peer 10.96.0.10:80"},
			{from: "pod", addr: "10.96.0.10:80", cred: proxyGrp, want: "peer 10.96.0.10:80"},
			// Loopback: the application to itself, the proxy forwarding inbound traffic.
			{from: "pod", addr: "127.0.0.1:9080", want: "app 127.0.0.1:9080"},
			{from: "pod", addr: "[::1]:9080", want: "app [::1]:9080"},
			{from: "pod", addr: "10.77.0.1:9080", cred: appUser, want: "app 10.77.0.1:9080"},
			{from: "pod", addr: "127.0.0.1:9080", cred: proxyUser, want: "app 127.0.0.1:9080"},
			// Inbound: to the application's ports, not the proxy's, not excluded ones.
			{from: "peer", addr: "10.77.0.1:9080", want: "inbound 10.77.0.1:9080"},
			{from: "peer", addr: "[fd77::1]:9080", want: "inbound [fd77::1]:9080"},
			{from: "peer", addr: "10.77.0.1:9443", want: "app 10.77.0.1:9443"},
			{from: "peer", addr: "10.77.0.1:15020", want: "agent 10.77.0.1:15020"},
		})
	})

	// Installing again replaces the table: only the new rules apply.
	rs = e.install(t, "--include-outbound-cidrs=10.96.0.0/24", "--include-inbound-ports=9080")
	e.checkKernel(t, rs)
	t.Run("include lists", func(t *testing.T) {
		e.check(t, []probe{
			{from: "pod", addr: "10.96.0.10:80", want: "outbound 10.96.0.10:80"},
			{from: "pod", addr: "10.96.0.10:5432", want: "outbound 10.96.0.10:5432"},
			{from: "pod", addr: "10.96.1.1:80", want: "peer 10.96.1.1:80"},
			{from: "pod", addr: "[fd96::10]:80", want: "peer [fd96::10]:80"},
			{from: "peer", addr: "10.77.0.1:9080", want: "inbound 10.77.0.1:9080"},
			{from: "peer", addr: "10.77.0.1:9443", want: "app 10.77.0.1:9443"},
		})
	})

	t.Run("remove", func(t *testing.T) {
		for range 2 { // the second Remove finds nothing and succeeds
			if err := Remove(nftables.WithNetNSFd(e.podFD)); err != nil {
				t.Fatal(err)
			}
		}
		e.checkKernel(t, RuleSet{})
		e.check(t, []probe{
			{from: "pod", addr: "10.96.0.10:80", want: "peer 10.96.0.10:80"},
			{from: "peer", addr: "10.77.0.1:9080", want: "app 10.77.0.1:9080"},
		})
	})
}
