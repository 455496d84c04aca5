package bootstrap

import (
	"encoding/json"
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	downstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	fixedheapv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Runtime keys every Gantry bootstrap sets.
const (
	// RuntimeRE2ErrorLevel is the RE2 program size above which Envoy refuses
	// a regular expression; Gantry sets it to ir.MaxRegexProgramSize, the
	// limit translation checks every expression against.
	RuntimeRE2ErrorLevel = "re2.max_program_size.error_level"
	RuntimeRE2WarnLevel  = "re2.max_program_size.warn_level"
)

// Overload manager names.
const (
	monitorConnections = "envoy.resource_monitors.global_downstream_max_connections"
	monitorHeap        = "envoy.resource_monitors.fixed_heap"
)

// Limits are the fleet-wide limits of an Envoy bootstrap. Zero leaves one
// out.
type Limits struct {
	// MaxDownstreamConnections bounds the connections Envoy accepts across
	// all listeners.
	MaxDownstreamConnections uint64
	// MaxHeapBytes is the heap the overload manager watches: at 95% Envoy
	// shrinks its heap, at 98% it stops accepting requests.
	MaxHeapBytes uint64
}

// DefaultLimits bound connections as a Gateway's parameters do by default
// (a host's memory is not Envoy's alone, so no heap limit).
func DefaultLimits() Limits {
	return Limits{MaxDownstreamConnections: params.DefaultEdge().MaxDownstreamConnections}
}

// Runtime is the layered runtime of every Envoy bootstrap Gantry writes: a
// static layer pinning the RE2 program size limit, so Envoy and
// translation use the same one.
func Runtime() *bootstrapv3.LayeredRuntime {
	limit := structpb.NewNumberValue(ir.MaxRegexProgramSize)
	return &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{{
		Name: "gantry",
		LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{Fields: map[string]*structpb.Value{
			RuntimeRE2ErrorLevel: limit,
			RuntimeRE2WarnLevel:  limit,
		}}},
	}}}
}

// Overload is the overload manager enforcing l; nil when l sets nothing.
func Overload(l Limits) *overloadv3.OverloadManager {
	if l.MaxDownstreamConnections == 0 && l.MaxHeapBytes == 0 {
		return nil
	}
	om := &overloadv3.OverloadManager{RefreshInterval: durationpb.New(250 * time.Millisecond)}
	if l.MaxDownstreamConnections > 0 {
		om.ResourceMonitors = append(om.ResourceMonitors, &overloadv3.ResourceMonitor{
			Name: monitorConnections,
			ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&downstreamv3.DownstreamConnectionsConfig{
				MaxActiveDownstreamConnections: int64(l.MaxDownstreamConnections),
			})},
		})
	}
	if l.MaxHeapBytes > 0 {
		om.ResourceMonitors = append(om.ResourceMonitors, &overloadv3.ResourceMonitor{
			Name: monitorHeap,
			ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&fixedheapv3.FixedHeapConfig{
				MaxHeapSizeBytes: l.MaxHeapBytes,
			})},
		})
		om.Actions = []*overloadv3.OverloadAction{
			heapAction("envoy.overload_actions.shrink_heap", 0.95),
			heapAction("envoy.overload_actions.stop_accepting_requests", 0.98),
		}
	}
	return om
}

func heapAction(name string, threshold float64) *overloadv3.OverloadAction {
	return &overloadv3.OverloadAction{Name: name, Triggers: []*overloadv3.Trigger{{
		Name:         monitorHeap,
		TriggerOneof: &overloadv3.Trigger_Threshold{Threshold: &overloadv3.ThresholdTrigger{Value: threshold}},
	}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("pack %T: %v", m, err))
	}
	return a
}

// HardeningJSON returns the runtime and (with limits) overload manager as
// bootstrap JSON fields ("layered_runtime", "overload_manager"), for the
// bootstraps written as JSON (the kube fleet's, the sidecar's).
func HardeningJSON(l Limits) (map[string]any, error) {
	msgs := map[string]proto.Message{"layered_runtime": Runtime()}
	if om := Overload(l); om != nil {
		msgs["overload_manager"] = om
	}
	out := make(map[string]any, len(msgs))
	for key, m := range msgs {
		data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: %s: %w", key, err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("bootstrap: %s: %w", key, err)
		}
		out[key] = v
	}
	return out, nil
}

// validateOverload validates the typed configs of the resource monitors,
// which ValidateAll does not open.
func validateOverload(om *overloadv3.OverloadManager) error {
	for _, m := range om.GetResourceMonitors() {
		inner, err := m.GetTypedConfig().UnmarshalNew()
		if err != nil {
			return fmt.Errorf("bootstrap: resource monitor %s: %w", m.GetName(), err)
		}
		if v, ok := inner.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				return fmt.Errorf("bootstrap: resource monitor %s: %w", m.GetName(), err)
			}
		}
	}
	return nil
}
