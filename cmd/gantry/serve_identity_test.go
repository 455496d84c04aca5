package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestXDSSecurityOptions: the refusals of the identity flags at start.
func TestXDSSecurityOptions(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "ca")
	for _, tc := range []struct {
		name string
		o    serveOptions
		want string
	}{
		{"insecure in kube", serveOptions{provider: "kube", identity: identityOptions{xdsInsecure: true}}, "Kubernetes mode serves xDS over TLS only"},
		{"kube without namespace", serveOptions{provider: "kube"}, "--namespace"},
		{"unknown issuer", serveOptions{provider: "file", identity: identityOptions{caDir: dir, caIssuer: "vault"}}, `--ca-issuer "vault"`},
		{"cert-manager without a name", serveOptions{provider: "file", identity: identityOptions{caDir: dir, caIssuer: issuerCertManager}}, "--cert-manager-issuer-name"},
		{"cert-manager standalone", serveOptions{provider: "file", identity: identityOptions{caDir: dir, caIssuer: issuerCertManager, certManager: certManagerIssuer{kind: "Issuer", name: "corp"}}}, "needs Kubernetes mode"},
	} {
		if _, err := newXDSSecurity(&tc.o, log); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	sec, err := newXDSSecurity(&serveOptions{provider: "file", identity: identityOptions{xdsInsecure: true}}, log)
	if err != nil || !sec.insecure || sec.meshSecrets() != nil {
		t.Fatalf("insecure standalone: %+v %v", sec, err)
	}
	sec, err = newXDSSecurity(&serveOptions{provider: "file", identity: identityOptions{caDir: dir}}, log)
	if err != nil || sec.insecure || sec.creds == nil || len(sec.meshSecrets()) != 1 {
		t.Fatalf("standalone mTLS: %+v %v", sec, err)
	}
}
