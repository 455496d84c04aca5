package bootstrap

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/tls/certprovider"
	_ "google.golang.org/grpc/credentials/tls/certprovider/pemfile" // registers file_watcher
	"google.golang.org/grpc/xds"

	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// The names the bootstrap declares are the ones the gRPC flavor and the
// mesh translator use.
func TestGRPCNamesMatchTheFlavor(t *testing.T) {
	for _, c := range []struct{ here, there string }{
		{CertProviderInstance, envoy.CertificateProviderInstance},
		{SystemRootsProviderInstance, envoy.SystemRootsProviderInstance},
		{SystemCABundle, envoy.SystemCABundle},
		{ServerListenerTemplate, meshtranslate.ServerListenerTemplate},
	} {
		if c.here != c.there {
			t.Errorf("bootstrap says %q, the flavor %q", c.here, c.there)
		}
	}
}

func TestGRPCCertificateProviders(t *testing.T) {
	data, err := GRPC(Options{Group: "mesh/shop", NodeID: "n", CertDir: "/certs", CertRefresh: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var got GRPCBootstrap
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"certificate_file": "/certs/tls.crt", "private_key_file": "/certs/tls.key",
		"ca_certificate_file": "/certs/ca.crt", "refresh_interval": "1.5s",
	}
	p := got.CertificateProviders[CertProviderInstance]
	if p.PluginName != "file_watcher" || len(p.Config) != len(want) {
		t.Fatalf("provider %s = %+v", CertProviderInstance, p)
	}
	for k, v := range want {
		if p.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, p.Config[k], v)
		}
	}
	if got.ServerListenerTemplate != ServerListenerTemplate {
		t.Errorf("server_listener_resource_name_template = %q", got.ServerListenerTemplate)
	}
	// grpc-go parses the bootstrap, and its file_watcher plugin each
	// provider's configuration.
	if _, err := xds.NewXDSResolverWithConfigForTesting(data); err != nil {
		t.Fatalf("grpc-go refuses the bootstrap: %v", err)
	}
	for name, prov := range got.CertificateProviders {
		cfg, err := json.Marshal(prov.Config)
		if err != nil {
			t.Fatal(err)
		}
		p, err := certprovider.GetProvider(prov.PluginName, json.RawMessage(cfg), certprovider.BuildOptions{})
		if err != nil {
			t.Errorf("provider %s: grpc-go's %s refuses its config: %v", name, prov.PluginName, err)
			continue
		}
		p.Close()
	}
	if _, err := certprovider.GetProvider("file_watcher", json.RawMessage(`{"refresh_interval": "bad"}`), certprovider.BuildOptions{}); err == nil {
		t.Error("the plugin accepts anything: the check above proves nothing")
	}
	if _, err := GRPC(Options{Group: "mesh/shop", CertRefresh: -time.Second}); err == nil {
		t.Error("a negative refresh interval was accepted")
	}
}
