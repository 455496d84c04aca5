package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The admin JSON here has the shape /proxies serves (the e2e tests check
// the real endpoint); this test pins the command's rendering and errors.
const proxiesJSON = `[{"id":"envoy-1","group":"gateway/default/gw","flavor":"envoy","protocol":"sotw","types":[
 {"typeUrl":"type.googleapis.com/envoy.config.cluster.v3.Cluster","sent":"v2","acked":"v1","state":"NACK","names":["a","b"],"nack":{"error":"bad cluster"}},
 {"typeUrl":"type.googleapis.com/envoy.config.listener.v3.Listener","sent":"v9","acked":"v9","state":"ACK","names":["l"]}]}]`

func runProxyConfig(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newProxyConfigCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestProxyConfigCommand(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/proxies":
			_, _ = w.Write([]byte(proxiesJSON))
		case "/proxies/envoy-1":
			_, _ = w.Write([]byte(`[{"id":"envoy-1","types":[{"typeUrl":"x","resources":[{"name":"a","resource":{"@type":"t"}}]}]}]`))
		default:
			http.Error(w, `{"error":"no connected node with id nope"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	out, err := runProxyConfig(t, "--admin-address", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NODE", "envoy-1", "Cluster", "NACK", "bad cluster", "Listener", "ACK"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, err = runProxyConfig(t, "--admin-address", addr, "envoy-1")
	if err != nil || !strings.Contains(out, "name: a") || !strings.Contains(out, "'@type': t") {
		t.Errorf("node detail (yaml): %v\n%s", err, out)
	}
	out, err = runProxyConfig(t, "--admin-address", addr, "envoy-1", "-o", "json")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Errorf("node detail (json): %v\n%s", err, out)
	}
	if _, err := runProxyConfig(t, "--admin-address", addr, "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := runProxyConfig(t, "--admin-address", addr, "-o", "xml"); err == nil {
		t.Error("-o xml accepted")
	}
	if got := strings.Join(paths, ","); got != "/proxies,/proxies/envoy-1,/proxies/envoy-1,/proxies/nope" {
		t.Errorf("requested %s", got)
	}
}
