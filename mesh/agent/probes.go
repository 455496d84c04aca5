package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The probe proxy. The injector rewrites the kubelet probes of a pod's
// application containers to GET http://<pod IP>:ProbePort<path> and records
// each original target under its path (ProbesEnv, a JSON Probes). The agent
// answers a probe by running the recorded one against the application on
// loopback, so probes keep working when the inbound traffic of the
// application's ports is captured (strict mTLS). Only recorded paths are
// answered, and only against loopback with the recorded port, path and
// headers: nothing of the incoming request reaches the application, so the
// port is not a proxy anyone can steer.
const (
	// ProbePort is the agent's probe port (excluded from traffic capture).
	ProbePort = 15020
	// ProbesEnv holds the recorded probes of the pod (JSON Probes).
	ProbesEnv = "GANTRY_APP_PROBES"
	// AppProbePrefix starts the path of a rewritten application probe:
	// /app-health/<container>/<livez|readyz|startupz>.
	AppProbePrefix = "/app-health/"
	// ProxyReadyPath is the sidecar's own readiness: Envoy's admin /ready.
	ProxyReadyPath = "/healthz/ready"
	// defaultProbeTimeout is the kubelet's default probe timeout.
	defaultProbeTimeout = time.Second
	// maxProbeBody bounds what is read of an application's probe answer.
	maxProbeBody = 10 << 10
)

// Probe is one recorded probe: exactly one of HTTPGet, TCPSocket and GRPC.
type Probe struct {
	HTTPGet   *HTTPGetProbe   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketProbe `json:"tcpSocket,omitempty"`
	GRPC      *GRPCProbe      `json:"grpc,omitempty"`
	// TimeoutSeconds is the probe's own timeout (default 1 s).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// HTTPGetProbe is an HTTP GET to 127.0.0.1:Port, Path (which may hold a
// query), over HTTPS when Scheme is "HTTPS" (not verified, as the kubelet
// does not verify either).
type HTTPGetProbe struct {
	Path    string        `json:"path,omitempty"`
	Port    int32         `json:"port"`
	Scheme  string        `json:"scheme,omitempty"`
	Headers []ProbeHeader `json:"headers,omitempty"`
}

// ProbeHeader is one header of an HTTP probe.
type ProbeHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketProbe succeeds when 127.0.0.1:Port accepts a connection.
type TCPSocketProbe struct {
	Port int32 `json:"port"`
}

// GRPCProbe is a grpc.health.v1 Check of Service on 127.0.0.1:Port.
type GRPCProbe struct {
	Port    int32  `json:"port"`
	Service string `json:"service,omitempty"`
}

// Probes maps the paths the agent answers to the probes they run.
type Probes map[string]Probe

// ParseProbes reads and validates Probes from JSON; "" is no probe.
func ParseProbes(s string) (Probes, error) {
	if strings.TrimSpace(s) == "" {
		return Probes{}, nil
	}
	var p Probes
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("agent: probes: %w", err)
	}
	return p, p.Validate()
}

// Validate checks every probe: a path starting with "/", exactly one
// action, ports 1-65535, scheme HTTP or HTTPS.
func (p Probes) Validate() error {
	for _, path := range slices.Sorted(maps.Keys(p)) {
		if err := p[path].validate(); err != nil {
			return fmt.Errorf("agent: probe %s: %w", path, err)
		}
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("agent: probe %q: the path must start with /", path)
		}
	}
	return nil
}

func (p Probe) validate() error {
	n := 0
	var port int32
	if h := p.HTTPGet; h != nil {
		n, port = n+1, h.Port
		if h.Scheme != "" && h.Scheme != "HTTP" && h.Scheme != "HTTPS" {
			return fmt.Errorf("scheme %q: want HTTP or HTTPS", h.Scheme)
		}
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			return fmt.Errorf("path %q: want an absolute path", h.Path)
		}
	}
	if t := p.TCPSocket; t != nil {
		n, port = n+1, t.Port
	}
	if g := p.GRPC; g != nil {
		n, port = n+1, g.Port
	}
	switch {
	case n != 1:
		return fmt.Errorf("%d actions: want exactly one of httpGet, tcpSocket, grpc", n)
	case port < 1 || port > 65535:
		return fmt.Errorf("port %d: want 1-65535", port)
	case p.TimeoutSeconds < 0:
		return fmt.Errorf("timeoutSeconds %d: want >= 0", p.TimeoutSeconds)
	}
	return nil
}

// ProbeHandler answers the recorded probes; Host is where the application
// is reached (default 127.0.0.1).
type ProbeHandler struct {
	Probes Probes
	Host   string
}

var _ http.Handler = (*ProbeHandler)(nil)

// ServeHTTP runs the probe recorded for the request's path: the status of
// an HTTP probe's answer is passed on (1xx-3xx count as success, as for
// the kubelet), a TCP or gRPC probe answers 200 or 503, an unknown path 404.
func (h *ProbeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	p, ok := h.Probes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	timeout := defaultProbeTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	code, err := h.run(ctx, p)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	w.WriteHeader(code)
}

// run probes p; err explains a failure.
func (h *ProbeHandler) run(ctx context.Context, p Probe) (int, error) {
	host := h.Host
	if host == "" {
		host = "127.0.0.1"
	}
	switch {
	case p.HTTPGet != nil:
		return httpProbe(ctx, host, p.HTTPGet)
	case p.TCPSocket != nil:
		addr := net.JoinHostPort(host, strconv.Itoa(int(p.TCPSocket.Port)))
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return http.StatusServiceUnavailable, fmt.Errorf("tcp %s: %w", addr, err)
		}
		_ = conn.Close()
		return http.StatusOK, nil
	case p.GRPC != nil:
		return grpcProbe(ctx, host, p.GRPC)
	}
	return http.StatusInternalServerError, errors.New("probe without an action")
}

func httpProbe(ctx context.Context, host string, g *HTTPGetProbe) (int, error) {
	scheme := "http"
	if g.Scheme == "HTTPS" {
		scheme = "https"
	}
	target, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(g.Port))) + g.Path)
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("probe target: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("probe target: %w", err)
	}
	req.Header.Set("User-Agent", "gantry-agent-probe")
	for _, hd := range g.Headers {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	client := &http.Client{
		// A redirect is answered, never followed: the probe reaches the
		// recorded target only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// The kubelet does not verify an HTTPS probe's certificate.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("http %s: %w", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	if resp.StatusCode >= http.StatusBadRequest {
		return resp.StatusCode, fmt.Errorf("http %s: status %d", target, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func grpcProbe(ctx context.Context, host string, g *GRPCProbe) (int, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("grpc %s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: g.Service})
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("grpc %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return http.StatusServiceUnavailable, fmt.Errorf("grpc %s: service %q is %s", addr, g.Service, resp.GetStatus())
	}
	return http.StatusOK, nil
}

// ServeProbes answers probes on ln until ctx ends.
func ServeProbes(ctx context.Context, ln net.Listener, p Probes) error {
	if err := p.Validate(); err != nil {
		return err
	}
	srv := &http.Server{Handler: &ProbeHandler{Probes: p}, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("agent: probe server: %w", err)
	}
	return nil
}
