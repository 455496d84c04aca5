package bootstrap

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

func TestEnvoy(t *testing.T) {
	b, err := Envoy(Options{Group: "gateway/default/gw", NodeID: "n1", XDSAddress: "127.0.0.1:18000"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Node.Cluster != "gateway/default/gw" || b.Node.Id != "n1" {
		t.Errorf("node = %v", b.Node)
	}
	if got := b.Node.Metadata.Fields[MetadataFlavor].GetStringValue(); got != FlavorEnvoy {
		t.Errorf("flavor = %q", got)
	}
	if b.DynamicResources.LdsConfig.GetAds() == nil || b.DynamicResources.CdsConfig.GetAds() == nil {
		t.Error("LDS/CDS not over ADS")
	}
	if got := b.DynamicResources.AdsConfig.GrpcServices[0].GetEnvoyGrpc().GetClusterName(); got != XDSClusterName {
		t.Errorf("ADS cluster = %q", got)
	}
	c := b.StaticResources.Clusters[0]
	if c.GetType() != clusterv3.Cluster_STATIC {
		t.Errorf("xds cluster type = %v, want STATIC for an IP", c.GetType())
	}
	sa := c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress()
	if sa.Address != "127.0.0.1" || sa.GetPortValue() != 18000 {
		t.Errorf("xds endpoint = %v", sa)
	}
	if admin := b.Admin.Address.GetSocketAddress(); admin.Address != "127.0.0.1" {
		t.Errorf("admin = %v", admin)
	}

	// A name resolves through DNS; ":18000" means loopback.
	b, err = Envoy(Options{Group: "gateway/ns/gw", XDSAddress: "gantry.gantry-system:18000"})
	if err != nil || b.StaticResources.Clusters[0].GetType() != clusterv3.Cluster_LOGICAL_DNS {
		t.Errorf("dns xds address: %v %v", err, b)
	}
	if !strings.HasPrefix(b.Node.Id, "gateway/ns/gw/") {
		t.Errorf("default node id = %q", b.Node.Id)
	}

	// Listen-everywhere addresses are dialled on loopback.
	for _, addr := range []string{":18000", "0.0.0.0:18000"} {
		b, err := Envoy(Options{Group: "gateway/ns/gw", XDSAddress: addr})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.StaticResources.Clusters[0].LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress().Address; got != "127.0.0.1" {
			t.Errorf("%s: xds host = %q", addr, got)
		}
		g, err := GRPC(Options{Group: "gateway/ns/gw", XDSAddress: addr})
		if err != nil || !strings.Contains(string(g), `"server_uri": "127.0.0.1:18000"`) {
			t.Errorf("%s: grpc bootstrap %s (%v)", addr, g, err)
		}
	}

	// Round trip through both renderings.
	for _, marshal := range []func(*bootstrapv3.Bootstrap) ([]byte, error){MarshalJSON, MarshalYAML} {
		data, err := marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		jsonData, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		back := &bootstrapv3.Bootstrap{}
		if err := protojson.Unmarshal(jsonData, back); err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if err := Validate(back); err != nil {
			t.Errorf("re-read bootstrap invalid: %v", err)
		}
	}
}

func TestEnvoyErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no group", Options{}, "a group is required"},
		{"bad group", Options{Group: "gw"}, `group "gw": want gateway/<namespace>/<name>`},
		{"bad xds", Options{Group: "gateway/a/b", XDSAddress: "nope"}, "xDS address"},
		{"public admin", Options{Group: "gateway/a/b", AdminAddress: "0.0.0.0:9901"}, "must be on loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Envoy(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateOpensTypedOptions(t *testing.T) {
	b, err := Envoy(Options{Group: "gateway/default/gw"})
	if err != nil {
		t.Fatal(err)
	}
	b = Clone(b)
	// An HTTP protocol options Any holding a message of the wrong type.
	b.StaticResources.Clusters[0].TypedExtensionProtocolOptions["x"] = b.StaticResources.Clusters[0].TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	b.StaticResources.Clusters[0].TypedExtensionProtocolOptions["x"].Value = []byte{0xff}
	if err := Validate(b); err == nil {
		t.Error("Validate accepted a broken typed option")
	}
}

func TestGRPC(t *testing.T) {
	data, err := GRPC(Options{Group: "gateway/default/gw", NodeID: "client-1", XDSAddress: "127.0.0.1:18000"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	node := got["node"].(map[string]any)
	if node["id"] != "client-1" || node["cluster"] != "gateway/default/gw" ||
		node["metadata"].(map[string]any)[MetadataFlavor] != FlavorGRPC {
		t.Errorf("node = %v", node)
	}
	srv := got["xds_servers"].([]any)[0].(map[string]any)
	if srv["server_uri"] != "127.0.0.1:18000" || srv["channel_creds"].([]any)[0].(map[string]any)["type"] != "insecure" {
		t.Errorf("server = %v", srv)
	}
}

// TestEnvoyValidateMode checks the bootstrap with a real Envoy when one is
// available.
func TestEnvoyValidateMode(t *testing.T) {
	bin := os.Getenv("GANTRY_ENVOY")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("envoy"); err != nil {
			t.Skip("no envoy binary on PATH and GANTRY_ENVOY unset: skipping envoy --mode validate of the bootstrap")
		}
	}
	b, err := Envoy(Options{Group: "gateway/default/gw"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}
}
