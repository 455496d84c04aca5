package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/mesh/ca"
)

func TestBootstrapCmd(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: []string{"--group", "gateway/default/gw", "--node-id", "n1"}, want: []string{"cluster: gateway/default/gw", "id: n1", "gantry_xds", "portValue: 18000"}},
		{args: []string{"--group", "gateway/default/gw", "-o", "json"}, want: []string{`"cluster": "gateway/default/gw"`}},
		{args: []string{"--group", "gateway/default/gw", "--grpc", "--xds-address", "127.0.0.1:1234"}, want: []string{`"server_uri": "127.0.0.1:1234"`, `"gantry.flavor": "grpc"`}},
		{args: []string{"--group", "mesh/default", "--grpc", "--node-id", "reviews-client-1"}, want: []string{`"cluster": "mesh/default"`, `"id": "reviews-client-1"`, `"gantry.flavor": "grpc"`}},
		{args: []string{"--group", "mesh/default/reviews", "--grpc"}, want: []string{`"cluster": "mesh/default/reviews"`}},
		{args: []string{"--group", "grpc/default/client", "--grpc"}, want: []string{`"cluster": "grpc/default/client"`}},
		{args: []string{"--group", "mesh/default"}, want: []string{"cluster: mesh/default", "gantry_xds"}},
		{args: []string{"--group", "gw"}, wantErr: `group "gw": want gateway/<namespace>/<name>, mesh/<namespace>, mesh/<namespace>/<service> or grpc/<namespace>/<name>`},
		{args: []string{"--group", "mesh/default/a/b", "--grpc"}, wantErr: `group "mesh/default/a/b": want`},
		{args: []string{"--group", "edge/default/gw", "--grpc"}, wantErr: `unknown role "edge"`},
		{args: []string{}, wantErr: `required flag(s) "group" not set`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newBootstrapCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append(tc.args, "--xds-insecure"))
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestBootstrapLocalCertificate: without credential flags, bootstrap issues
// the group's identity a client certificate from gantry serve's CA folder
// and prints a bootstrap that uses it.
func TestBootstrapLocalCertificate(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	if _, err := ca.Open(context.Background(), ca.Options{Store: ca.DirStore{Dir: caDir}}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := newBootstrapCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--ca-dir", caDir}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--group", "gateway/shop/web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "clients", "shop_gantry-web")
	for _, w := range []string{"envoy.transport_sockets.tls", filepath.Join(dir, "clients", "shop_gantry-web.sds.json"), `"sanType": "IP_ADDRESS"`} {
		if !strings.Contains(out, w) {
			t.Errorf("Envoy bootstrap lacks %q:\n%s", w, out)
		}
	}
	sds, err := os.ReadFile(filepath.Join(dir, "clients", "shop_gantry-web.sds.json"))
	if err != nil || !strings.Contains(string(sds), filepath.Join(certDir, "tls.key")) {
		t.Fatalf("SDS file: %v\n%s", err, sds)
	}
	data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || cert.URIs[0].String() != "spiffe://cluster.local/ns/shop/sa/gantry-web" {
		t.Fatalf("client certificate: %v %v", cert.URIs, err)
	}
	out, err = run("--group", "mesh/shop", "--grpc", "--service-account", "reviews")
	if err != nil || !strings.Contains(out, `"type": "tls"`) || !strings.Contains(out, "shop_reviews") {
		t.Fatalf("gRPC bootstrap: %v\n%s", err, out)
	}
	if _, err := run("--group", "mesh/shop", "--ca-dir", filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no CA there") {
		t.Errorf("missing CA folder: %v", err)
	}
}
