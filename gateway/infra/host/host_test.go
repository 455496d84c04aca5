package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

type fake struct {
	t   *testing.T
	log string
	m   *Manager
}

func newFake(t *testing.T, mode string, opts Options) *fake {
	t.Helper()
	bin, err := filepath.Abs("testdata/fake-envoy.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &fake{t: t, log: filepath.Join(dir, "starts.log")}
	opts.EnvoyPath = bin
	opts.XDSAddress = "127.0.0.1:18000"
	opts.WorkDir = filepath.Join(dir, "work")
	opts.Env = []string{"FAKE_ENVOY_LOG=" + f.log, "FAKE_ENVOY_MODE=" + mode}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Output = io.Discard
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 10 * time.Millisecond
	}
	f.m = New(opts)
	t.Cleanup(func() { _ = f.m.Close() })
	return f
}

func (f *fake) lines(prefix string) []string {
	data, _ := os.ReadFile(f.log)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestStartReconcileStop(t *testing.T) {
	f := newFake(t, "run", Options{})
	if _, err := f.m.Available(); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Reconcile([]string{"gateway/default/b", "gateway/default/a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two running envoys", func() bool {
		st := f.m.Statuses()
		return len(st) == 2 && st[0].Running && st[1].Running && st[0].AdminAddress != "" && st[1].AdminAddress != ""
	})
	st := f.m.Statuses()
	if st[0].Group != "gateway/default/a" || st[1].Group != "gateway/default/b" || st[0].PID == st[1].PID {
		t.Fatalf("statuses = %+v", st)
	}
	starts := f.lines("start ")
	if len(starts) != 2 || !strings.Contains(starts[0], "--use-dynamic-base-id") {
		t.Fatalf("starts = %v", starts)
	}
	cfg, err := os.ReadFile(filepath.Join(f.m.opts.WorkDir, "gateway_default_a.bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Node struct{ Cluster string }
	}
	if err := json.Unmarshal(cfg, &b); err != nil || b.Node.Cluster != "gateway/default/a" {
		t.Fatalf("bootstrap node cluster = %q (%v)", b.Node.Cluster, err)
	}

	// Reconciling to the same groups starts nothing; dropping one stops it.
	if err := f.m.Reconcile([]string{"gateway/default/b"}); err != nil {
		t.Fatal(err)
	}
	if len(f.lines("start ")) != 2 {
		t.Fatalf("unexpected restarts: %v", f.lines("start "))
	}
	if alive(st[0].PID) {
		t.Errorf("envoy of the removed group (pid %d) still runs", st[0].PID)
	}
	if got := f.m.Statuses(); len(got) != 1 || got[0].Group != "gateway/default/b" || !got[0].Running {
		t.Fatalf("after removing a group: %+v", got)
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(st[1].PID) {
		t.Errorf("envoy (pid %d) runs after Close", st[1].PID)
	}
	if len(f.lines("term ")) != 2 {
		t.Errorf("SIGTERM not seen by both: %v", f.lines("term "))
	}
	if err := f.m.Reconcile([]string{"gateway/default/a"}); err == nil {
		t.Error("Reconcile after Close succeeded")
	}
}

func TestRestartAfterCrash(t *testing.T) {
	f := newFake(t, "crash-once", Options{})
	if err := f.m.Reconcile([]string{"gateway/default/gw"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a restart", func() bool {
		st := f.m.Statuses()
		return len(st) == 1 && st[0].Starts == 2 && st[0].Running
	})
	if st := f.m.Statuses()[0]; !strings.Contains(st.LastExit, "exit status 3") {
		t.Errorf("last exit = %q", st.LastExit)
	}
}

func TestBackoffGrows(t *testing.T) {
	f := newFake(t, "crash", Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err := f.m.Reconcile([]string{"gateway/default/gw"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	// Waits of 50, 100, 200, 200 ms: about 4-5 starts, far fewer than an
	// unthrottled loop would make.
	n := f.m.Statuses()[0].Starts
	if n < 2 || n > 7 {
		t.Errorf("%d starts in 600 ms with 50-200 ms backoff", n)
	}
}

func TestStubbornEnvoyIsKilled(t *testing.T) {
	f := newFake(t, "stubborn", Options{StopTimeout: 200 * time.Millisecond})
	if err := f.m.Reconcile([]string{"gateway/default/gw"}); err != nil {
		t.Fatal(err)
	}
	// Ready: the script ignores SIGTERM from here on.
	eventually(t, "running", func() bool { st := f.m.Statuses(); return len(st) == 1 && st[0].Running && len(f.lines("ready ")) == 1 })
	pid := f.m.Statuses()[0].PID
	start := time.Now()
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d survived SIGKILL", pid)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("Close took %v, want about the 200 ms stop timeout", d)
	}
}

func TestEnvoyNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvVar, "")
	var logs bytes.Buffer
	m := New(Options{XDSAddress: "127.0.0.1:18000", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := m.Available(); !errors.Is(err, ErrEnvoyNotFound) {
		t.Fatalf("Available() err = %v", err)
	}
	for range 3 {
		if err := m.Reconcile([]string{"gateway/default/gw"}); err != nil {
			t.Fatalf("Reconcile without envoy: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "host infra disabled"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if len(m.Statuses()) != 0 {
		t.Error("statuses without envoy")
	}

	t.Setenv(EnvVar, "/nonexistent/envoy")
	if _, err := New(Options{}).Available(); err == nil || !strings.Contains(err.Error(), "/nonexistent/envoy") {
		t.Errorf("bad GANTRY_ENVOY: err = %v", err)
	}
}

// TestRealEnvoy starts a real Envoy when one is available and checks that it
// runs with the generated bootstrap (node cluster = group, admin on
// loopback) and serves Prometheus stats on its stats listener, and nothing
// else there.
func TestRealEnvoy(t *testing.T) {
	bin := os.Getenv(EnvVar)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("envoy"); err != nil {
			t.Skip("no envoy binary on PATH and GANTRY_ENVOY unset: skipping the real-Envoy host infra test")
		}
	}
	m := New(Options{EnvoyPath: bin, XDSAddress: "127.0.0.1:1", WorkDir: t.TempDir(), StatsHost: "127.0.0.1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer m.Close()
	if err := m.Reconcile([]string{"gateway/default/gw"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "envoy admin address", func() bool { st := m.Statuses(); return st[0].AdminAddress != "" })
	admin := m.Statuses()[0].AdminAddress
	if !strings.HasPrefix(admin, "127.0.0.1:") {
		t.Fatalf("admin address %q is not loopback", admin)
	}
	var info struct {
		CommandLineOptions struct {
			ServiceCluster string `json:"service_cluster"`
		} `json:"command_line_options"`
		Node struct {
			Cluster string `json:"cluster"`
		} `json:"node"`
	}
	eventually(t, "server_info", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://%s/server_info", admin))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&info) == nil
	})
	if info.Node.Cluster != "gateway/default/gw" {
		t.Errorf("envoy node cluster = %q", info.Node.Cluster)
	}
	stats := m.Statuses()[0].StatsAddress
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + stats + path)
		if err != nil {
			t.Fatalf("GET %s on the stats listener: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(bootstrap.StatsPath); code != http.StatusOK || !strings.Contains(body, "envoy_server_live") {
		t.Errorf("stats listener %s: %d %.200s", stats, code, body)
	}
	if code, _ := get("/server_info"); code != http.StatusNotFound {
		t.Errorf("stats listener serves /server_info: %d", code)
	}
}

// readBootstrap parses the bootstrap the fake envoy was started with.
func readBootstrap(t *testing.T, f *fake, group string) *bootstrapv3.Bootstrap {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.m.opts.WorkDir, fileSafe(group)+".bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(data, b); err != nil {
		t.Fatalf("%s bootstrap: %v", group, err)
	}
	return b
}

// statsListenerOf returns the bootstrap's stats listener address and the
// first path it routes, or "" when there is none.
func statsListenerOf(t *testing.T, b *bootstrapv3.Bootstrap) (addr, path string) {
	t.Helper()
	for _, l := range b.GetStaticResources().GetListeners() {
		if l.GetName() != bootstrap.StatsListenerName {
			continue
		}
		sa := l.GetAddress().GetSocketAddress()
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatal(err)
		}
		path = hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetMatch().GetPath()
		return net.JoinHostPort(sa.GetAddress(), fmt.Sprint(sa.GetPortValue())), path
	}
	return "", ""
}

// TestStatsListeners checks that with StatsHost every Envoy's bootstrap
// carries a stats listener on its own port, forwarding to a fixed admin
// port, and that Status reports it.
func TestStatsListeners(t *testing.T) {
	f := newFake(t, "run", Options{StatsHost: "127.0.0.1"})
	groups := []string{"gateway/default/a", "gateway/default/b"}
	if err := f.m.Reconcile(groups); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two running envoys", func() bool {
		st := f.m.Statuses()
		return len(st) == 2 && st[0].Running && st[1].Running
	})
	ports := map[string]string{}
	for i, st := range f.m.Statuses() {
		b := readBootstrap(t, f, groups[i])
		addr, path := statsListenerOf(t, b)
		if addr == "" || addr != st.StatsAddress || path != bootstrap.StatsPath {
			t.Fatalf("%s: stats listener %q serving %q, status says %q", st.Group, addr, path, st.StatsAddress)
		}
		host, p, _ := net.SplitHostPort(addr)
		admin := b.GetAdmin().GetAddress().GetSocketAddress()
		if host != "127.0.0.1" || p == "0" || admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() == 0 {
			t.Fatalf("%s: stats %s, admin %v: want loopback and fixed ports", st.Group, addr, admin)
		}
		for _, c := range b.GetStaticResources().GetClusters() {
			if c.GetName() == bootstrap.AdminClusterName {
				ep := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
				if ep.GetPortValue() != admin.GetPortValue() {
					t.Errorf("%s: admin cluster port %d, admin port %d", st.Group, ep.GetPortValue(), admin.GetPortValue())
				}
			}
		}
		for _, q := range []string{p, fmt.Sprint(admin.GetPortValue())} {
			if other, dup := ports[q]; dup {
				t.Errorf("port %s used twice (%s and %s)", q, other, st.Group)
			}
			ports[q] = st.Group
		}
	}

	// Without StatsHost there is no stats listener and Envoy picks its
	// admin port.
	g := newFake(t, "run", Options{})
	if err := g.m.Reconcile([]string{"gateway/default/a"}); err != nil {
		t.Fatal(err)
	}
	b := readBootstrap(t, g, "gateway/default/a")
	if addr, _ := statsListenerOf(t, b); addr != "" || b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue() != 0 {
		t.Errorf("stats listener %q, admin %v without StatsHost", addr, b.GetAdmin().GetAddress())
	}
	if st := g.m.Statuses(); st[0].StatsAddress != "" {
		t.Errorf("status reports stats address %q without StatsHost", st[0].StatsAddress)
	}
}

// TestCredentials: with Credentials set, each Envoy's bootstrap dials over
// TLS with the certificate files of its group and its SDS file is written.
func TestCredentials(t *testing.T) {
	var asked []string
	f := newFake(t, "run", Options{Credentials: func(group, dir string) (*bootstrap.Credentials, error) {
		asked = append(asked, group)
		return &bootstrap.Credentials{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}, nil
	}})
	if err := f.m.Reconcile([]string{"gateway/default/a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a running envoy", func() bool { st := f.m.Statuses(); return len(st) == 1 && st[0].Running })
	if len(asked) != 1 || asked[0] != "gateway/default/a" {
		t.Fatalf("credentials asked for %v", asked)
	}
	cfg, err := os.ReadFile(filepath.Join(f.m.opts.WorkDir, "gateway_default_a.bootstrap.json"))
	if err != nil || !strings.Contains(string(cfg), "envoy.transport_sockets.tls") || !strings.Contains(string(cfg), "gateway_default_a.sds.json") {
		t.Fatalf("bootstrap without TLS to Gantry (%v):\n%s", err, cfg)
	}
	sds, err := os.ReadFile(filepath.Join(f.m.opts.WorkDir, "gateway_default_a.sds.json"))
	if err != nil || !strings.Contains(string(sds), filepath.Join(f.m.opts.WorkDir, "gateway_default_a.certs", "tls.key")) {
		t.Fatalf("SDS file (%v):\n%s", err, sds)
	}
}
