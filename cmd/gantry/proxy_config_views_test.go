package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxyConfigViews runs the per-type views against the admin server of
// the control plane serving the quickstart, with one proxyless client
// connected.
func TestProxyConfigViews(t *testing.T) {
	e := startE2E(t, []string{"echo-v1", "echo-v2", "echo-api"}, quickstartFiles(t))
	conn := xdsClientConn(t, grpcBootstrap(e.cp.xdsLn.Addr().String(), "viewer-1", "gateway/default/quickstart"), "app.example.com:8080")
	if got, err := call(conn, "/v2/x"); err != nil || got != "echo-v2" {
		t.Fatalf("call: %q %v", got, err)
	}
	admin := e.cp.adminLn.Addr().String()
	tests := []struct {
		view string
		want []string
	}{
		{"listeners", []string{"viewer-1", "app.example.com:8080", "api_listener (proxyless)"}},
		{"routes", []string{"default/quickstart/8080", "app.example.com", "prefix /v2/", "default/app/rule/0/match/0", "default/echo-v2/80", "header x-canary"}},
		{"clusters", []string{"default/echo-v1/80", "EDS"}},
		{"endpoints", []string{"default/echo-v2/80", "127.0.0.1:" + strings.Split(e.backends["echo-v2"].Addr(), ":")[1]}},
	}
	for _, tc := range tests {
		stdout, stderr, code := runGantry(t, "proxy-config", tc.view, "--admin-address", admin)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.view, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("proxy-config %s lacks %q:\n%s", tc.view, w, stdout)
			}
		}
	}
	// The client asked for the clusters of app.example.com only: echo-v1, echo-v2.
	stdout, _, code := runGantry(t, "proxy-config", "clusters", "viewer-1", "--admin-address", admin, "-o", "json")
	var res []viewResource
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || len(res) != 2 || res[0].Node != "viewer-1" {
		t.Errorf("clusters -o json: exit %d, %v, %d resources\n%s", code, err, len(res), stdout)
	}
}

// TestProxyConfigSecretsRedacted: a secret's private key is never printed,
// in any view or format.
func TestProxyConfigSecretsRedacted(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----SECRET"
	node := `[{"id":"n1","types":[{"typeUrl":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret","resources":[
	  {"name":"default/cert","resource":{"name":"default/cert","tlsCertificate":{"certificateChain":{"inlineString":"CERT"},"privateKey":{"inlineString":"` + key + `"}}}},
	  {"name":"default/ca","resource":{"name":"default/ca","validationContext":{"trustedCa":{"inlineString":"CA"}}}}]}]}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/proxies":
			_, _ = w.Write([]byte(`[{"id":"n1"}]`))
		default:
			_, _ = w.Write([]byte(node))
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, args := range [][]string{
		{"proxy-config", "secrets"}, {"proxy-config", "secrets", "-o", "json"}, {"proxy-config", "secrets", "n1", "-o", "yaml"},
		{"proxy-config", "n1"}, {"proxy-config", "n1", "-o", "json"},
	} {
		stdout, stderr, code := runGantry(t, append(args, "--admin-address", addr)...)
		if code != 0 || strings.Contains(stdout, "SECRET") || !strings.Contains(stdout, redacted) {
			t.Errorf("%v: exit %d, key shown or not marked redacted:\n%s%s", args, code, stdout, stderr)
		}
	}
	stdout, _, _ := runGantry(t, "proxy-config", "secrets", "--admin-address", addr)
	if !strings.Contains(stdout, "default/ca") || !strings.Contains(stdout, "CA bundle") {
		t.Errorf("secrets table:\n%s", stdout)
	}
}
