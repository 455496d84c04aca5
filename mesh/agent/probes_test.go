package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// loopbackPort listens on 127.0.0.1:0 and returns the listener and port.
func loopbackPort(t *testing.T) (net.Listener, int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln, int32(ln.Addr().(*net.TCPAddr).Port)
}

func TestProbeProxy(t *testing.T) {
	// The application: /healthz answers 200 when the header is right,
	// /broken 500; every request is counted with its path.
	var hits atomic.Int32
	var lastPath atomic.Value
	appLn, appPort := loopbackPort(t)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		lastPath.Store(r.URL.RequestURI())
		switch {
		case r.URL.Path == "/healthz" && r.Header.Get("X-Probe") == "yes" && r.Host == "app.local":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})}
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })

	// A gRPC server with the standard health service.
	grpcLn, grpcPort := loopbackPort(t)
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("reviews", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(grpcLn) }()
	t.Cleanup(gs.Stop)

	// A port nothing listens on.
	closedLn, closedPort := loopbackPort(t)
	_ = closedLn.Close()

	probes := Probes{
		"/app-health/web/readyz": {HTTPGet: &HTTPGetProbe{Path: "/healthz?full=1", Port: appPort,
			Headers: []ProbeHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "app.local"}}}},
		"/app-health/web/livez":     {HTTPGet: &HTTPGetProbe{Path: "/broken", Port: appPort}},
		"/app-health/web/startupz":  {HTTPGet: &HTTPGetProbe{Path: "/redirect", Port: appPort}},
		"/app-health/tcp/readyz":    {TCPSocket: &TCPSocketProbe{Port: appPort}},
		"/app-health/tcp/livez":     {TCPSocket: &TCPSocketProbe{Port: closedPort}},
		"/app-health/grpc/readyz":   {GRPC: &GRPCProbe{Port: grpcPort, Service: "reviews"}},
		"/app-health/grpc/livez":    {GRPC: &GRPCProbe{Port: grpcPort, Service: "down"}},
		"/app-health/grpc/startupz": {GRPC: &GRPCProbe{Port: closedPort}},
	}
	ln, port := loopbackPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ServeProbes(ctx, ln, probes) }()
	base := "http://127.0.0.1:" + strconv.Itoa(int(port))

	cases := []struct {
		path string
		want int
	}{
		{path: "/app-health/web/readyz", want: http.StatusOK},
		{path: "/app-health/web/livez", want: http.StatusInternalServerError},
		{path: "/app-health/web/startupz", want: http.StatusFound}, // answered, not followed
		{path: "/app-health/tcp/readyz", want: http.StatusOK},
		{path: "/app-health/tcp/livez", want: http.StatusServiceUnavailable},
		{path: "/app-health/grpc/readyz", want: http.StatusOK},
		{path: "/app-health/grpc/livez", want: http.StatusServiceUnavailable},
		{path: "/app-health/grpc/startupz", want: http.StatusServiceUnavailable},
		// Not recorded: never reaches the application.
		{path: "/healthz", want: http.StatusNotFound},
		{path: "/app-health/web/readyz/", want: http.StatusNotFound},
		{path: "/app-health/other/readyz", want: http.StatusNotFound},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		resp, err := client.Get(base + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	if got := lastPath.Load(); got != "/redirect" {
		t.Errorf("last application request %v", got)
	}

	// Not an open proxy: an absolute-form request naming another host and
	// port, a query or other methods reach nothing but the recorded target.
	before := hits.Load()
	for _, raw := range []string{
		"GET http://127.0.0.1:" + strconv.Itoa(int(appPort)) + "/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET /app-health/web/livez/../../admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /app-health/web/readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"CONNECT 127.0.0.1:" + strconv.Itoa(int(appPort)) + " HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		status := rawRequest(t, "127.0.0.1:"+strconv.Itoa(int(port)), raw)
		if strings.Contains(status, " 200 ") {
			t.Errorf("%q answered %q", strings.SplitN(raw, "\r\n", 2)[0], status)
		}
	}
	if n := hits.Load(); n != before {
		t.Errorf("unrecorded requests reached the application %d times", n-before)
	}
	// The recorded query reached the application as recorded.
	resp, err := client.Get(base + "/app-health/web/readyz?x=evil")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := lastPath.Load(); got != "/healthz?full=1" {
		t.Errorf("the application saw %v, want the recorded /healthz?full=1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeProbes: %v", err)
	}
}

func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, _ := conn.Read(buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return line
}

func TestParseProbes(t *testing.T) {
	good := `{"/app-health/a/readyz":{"httpGet":{"path":"/h","port":8080,"scheme":"HTTPS"}},"/p":{"tcpSocket":{"port":1}}}`
	p, err := ParseProbes(good)
	if err != nil || len(p) != 2 || p["/p"].TCPSocket.Port != 1 {
		t.Fatalf("ParseProbes(good) = %v, %v", p, err)
	}
	if p, err := ParseProbes(""); err != nil || len(p) != 0 {
		t.Fatalf("empty: %v, %v", p, err)
	}
	for in, want := range map[string]string{
		`{"/a":{}}`: "0 actions",
		`{"/a":{"tcpSocket":{"port":1},"grpc":{"port":2}}}`: "2 actions",
		`{"/a":{"tcpSocket":{"port":0}}}`:                   "port 0",
		`{"/a":{"httpGet":{"port":80,"scheme":"FTP"}}}`:     `scheme "FTP"`,
		`{"/a":{"httpGet":{"port":80,"path":"x"}}}`:         `path "x"`,
		`{"a":{"tcpSocket":{"port":1}}}`:                    "must start with /",
		`{"/a":{"exec":{}}}`:                                "unknown field",
		`[1]`:                                               "cannot unmarshal",
	} {
		if _, err := ParseProbes(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseProbes(%s) error %v, want %q", in, err, want)
		}
	}
}

func TestProbeHandlerHead(t *testing.T) {
	_, port := loopbackPort(t) // listening: the TCP probe succeeds
	h := &ProbeHandler{Probes: Probes{"/p": {TCPSocket: &TCPSocketProbe{Port: port}}}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/p", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("HEAD = %d", rec.Code)
	}
}
