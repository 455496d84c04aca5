package bootstrap

import (
	"encoding/json"
	"testing"

	downstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// TestEnvoyBootstrapHardening: the RE2 limit translation checks against is
// the one the bootstrap pins, and the connection limit is enforced.
func TestEnvoyBootstrapHardening(t *testing.T) {
	b, err := Envoy(Options{Group: "gateway/default/eg"})
	if err != nil {
		t.Fatal(err)
	}
	fields := b.GetLayeredRuntime().GetLayers()[0].GetStaticLayer().GetFields()
	if got := fields[RuntimeRE2ErrorLevel].GetNumberValue(); got != ir.MaxRegexProgramSize {
		t.Errorf("%s = %v, want %d", RuntimeRE2ErrorLevel, got, ir.MaxRegexProgramSize)
	}
	mons := b.GetOverloadManager().GetResourceMonitors()
	if len(mons) != 1 || mons[0].GetName() != monitorConnections {
		t.Fatalf("resource monitors = %v", mons)
	}
	var dc downstreamv3.DownstreamConnectionsConfig
	if err := mons[0].GetTypedConfig().UnmarshalTo(&dc); err != nil || uint64(dc.GetMaxActiveDownstreamConnections()) != DefaultLimits().MaxDownstreamConnections {
		t.Errorf("connection limit = %v (%v)", dc.GetMaxActiveDownstreamConnections(), err)
	}
	b, err = Envoy(Options{Group: "gateway/default/eg", Limits: Limits{MaxDownstreamConnections: 7, MaxHeapBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.GetOverloadManager().GetResourceMonitors()); n != 2 || len(b.GetOverloadManager().GetActions()) != 2 {
		t.Errorf("with a heap limit: %v", b.GetOverloadManager())
	}
}

func TestHardeningJSONRuntimeOnly(t *testing.T) {
	m, err := HardeningJSON(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["overload_manager"]; ok {
		t.Error("no limits must mean no overload manager")
	}
	data, _ := json.Marshal(m["layered_runtime"])
	var rt struct {
		Layers []struct {
			StaticLayer map[string]float64 `json:"static_layer"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(data, &rt); err != nil || rt.Layers[0].StaticLayer[RuntimeRE2ErrorLevel] != ir.MaxRegexProgramSize {
		t.Errorf("layered_runtime = %s (%v)", data, err)
	}
}
