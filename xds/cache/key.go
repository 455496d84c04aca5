package cache

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Flavors of output a node can ask for. They match xds/envoy's Flavor values.
const (
	FlavorEnvoy = "envoy"
	FlavorGRPC  = "grpc"
)

// FlavorMetadataKey is the node metadata field that selects the flavor.
const FlavorMetadataKey = "gantry.flavor"

// Key selects one snapshot: a node group in one output flavor. The group is
// "gateway/<ns>/<name>" for a Gateway's Envoy fleet; later "mesh/<ns>/<svc>"
// for sidecars and "grpc/<ns>/<name>" for proxyless clients.
type Key struct {
	Group  string `json:"group"`
	Flavor string `json:"flavor"`
}

func (k Key) String() string { return k.Group + " (" + k.Flavor + ")" }

// Mapper tells which snapshot a node receives.
type Mapper interface {
	KeyFor(node *corev3.Node) Key
}

// MapperFunc adapts a function to Mapper.
type MapperFunc func(node *corev3.Node) Key

// KeyFor calls f.
func (f MapperFunc) KeyFor(node *corev3.Node) Key { return f(node) }

// NodeKey is the default mapping: node.cluster is the group, and node
// metadata "gantry.flavor" = "grpc" selects the gRPC flavor (anything else,
// or nothing, is the Envoy flavor).
func NodeKey(node *corev3.Node) Key {
	k := Key{Group: node.GetCluster(), Flavor: FlavorEnvoy}
	if f := node.GetMetadata().GetFields()[FlavorMetadataKey]; f.GetStringValue() == FlavorGRPC {
		k.Flavor = FlavorGRPC
	}
	return k
}
