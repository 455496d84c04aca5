package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gantryproxy/gantry/gateway/infra/host"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/server"
)

// statusDoc is the body of /status.
type statusDoc struct {
	Ready       bool           `json:"ready"`
	Diagnostics []string       `json:"diagnostics,omitempty"`
	Proxies     []string       `json:"proxies"`
	Status      *status.Report `json:"status,omitempty"`
	// HostEnvoys are the Envoy processes host infra runs (standalone),
	// with their admin and stats listener addresses.
	HostEnvoys []host.Status `json:"hostEnvoys,omitempty"`
}

// proxyDoc is one stream of a node on /proxies/<node-id>, with what it was
// sent rendered as JSON.
type proxyDoc struct {
	server.Proxy
	Types []typeDoc `json:"types"`
}

type typeDoc struct {
	server.TypeState
	Resources []resourceDoc `json:"resources,omitempty"`
}

type resourceDoc struct {
	Name     string          `json:"name"`
	Resource json.RawMessage `json:"resource"`
}

func newAdminServer(cp *controlPlane) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		v := cp.loop.State()
		res := v.Result
		doc := statusDoc{Ready: v.Ready, Diagnostics: v.Diagnostics, Proxies: []string{}}
		if res != nil {
			doc.Status = res.Status
			for _, p := range res.Proxies {
				doc.Proxies = append(doc.Proxies, p.Name)
			}
		}
		if cp.hostEnvoys != nil {
			doc.HostEnvoys = cp.hostEnvoys()
		}
		writeJSON(w, http.StatusOK, doc)
	})
	mux.HandleFunc("GET /proxies", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, cp.xds.Proxies())
	})
	mux.HandleFunc("GET /proxies/{node...}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("node")
		ps := cp.xds.Proxy(id)
		if len(ps) == 0 {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no connected node with id " + id})
			return
		}
		docs := make([]proxyDoc, 0, len(ps))
		for _, p := range ps {
			docs = append(docs, renderProxy(p))
		}
		writeJSON(w, http.StatusOK, docs)
	})
	mux.HandleFunc("GET /{$}", consoleHandler(cp))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

func renderProxy(p server.Proxy) proxyDoc {
	doc := proxyDoc{Proxy: p, Types: make([]typeDoc, 0, len(p.Types))}
	for _, ts := range p.Types {
		td := typeDoc{TypeState: ts}
		for _, n := range ts.Names {
			raw, err := protojson.Marshal(ts.Resources[n])
			if err == nil {
				// What a node was sent includes its SDS secrets: keys never
				// leave through the admin endpoint.
				raw, err = redactPrivateKeys(raw)
			}
			if err != nil {
				raw, _ = json.Marshal(map[string]string{"error": err.Error()})
			}
			td.Resources = append(td.Resources, resourceDoc{Name: n, Resource: raw})
		}
		doc.Types = append(doc.Types, td)
	}
	return doc
}

func newMetricsServer(cp *controlPlane) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cp.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !cp.loop.State().Ready {
			http.Error(w, "not ready: no configuration translated yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func serveHTTP(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
