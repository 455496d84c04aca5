package envoy

import (
	"fmt"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

var healthStatus = map[ir.HealthStatus]corev3.HealthStatus{
	"":          corev3.HealthStatus_UNKNOWN, // treated as healthy
	ir.Healthy:  corev3.HealthStatus_HEALTHY,
	ir.Draining: corev3.HealthStatus_DRAINING,
	ir.Unready:  corev3.HealthStatus_UNHEALTHY,
}

// healthRank orders statuses from best to worst, to keep the best when an
// address is listed twice.
var healthRank = map[corev3.HealthStatus]int{
	corev3.HealthStatus_HEALTHY: 0, corev3.HealthStatus_UNKNOWN: 1,
	corev3.HealthStatus_DRAINING: 2, corev3.HealthStatus_UNHEALTHY: 3,
}

// endpoints gives every EDS cluster its ClusterLoadAssignment, also when it
// has no endpoints, so clients do not wait for one.
func (b *builder) endpoints() ([]types.Resource, error) {
	var out []types.Resource
	var err error
	if b.memo != nil {
		out, err = b.memo.irLoadAssignments(b) // shared: appended to as a copy
	} else {
		out, err = b.irLoadAssignments(b.proxy.Clusters.Len() + 1)
	}
	if err != nil {
		return nil, err
	}
	for _, m := range b.udpMerged {
		cla, err := b.udpLoadAssignment(m)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: endpoints: %w", m.name, err)
		}
		out = append(out, cla)
	}
	if b.invalidBackend && b.flavor == FlavorGRPC {
		out = append(out, &endpointv3.ClusterLoadAssignment{ClusterName: InvalidBackendCluster})
	}
	return out, nil
}

// irLoadAssignments builds the endpoint sets of the proxy's IR clusters,
// in order, into a list of capacity size.
func (b *builder) irLoadAssignments(size int) ([]types.Resource, error) {
	out := make([]types.Resource, 0, size)
	for c := range b.proxy.Clusters.Values() {
		if c == nil || c.OriginalDestination {
			continue
		}
		cla, err := b.loadAssignmentOf(c)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: endpoints: %w", c.Name, err)
		}
		out = append(out, cla)
	}
	return out, nil
}

// loadAssignment groups endpoints by zone (one locality each, weight 1:
// grpc-go ignores localities without a weight and rejects one with no
// locality message). An address listed twice is
// kept once, with its best health.
func loadAssignment(c *ir.Cluster) (*endpointv3.ClusterLoadAssignment, error) {
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	seen := map[string]*endpointv3.LbEndpoint{}
	var zones []string
	for i, ep := range c.Endpoints {
		if ep.Address == "" || ep.Port == 0 || ep.Port > 65535 {
			return nil, fmt.Errorf("[%d] %s:%d: want an address and a port 1-65535", i, ep.Address, ep.Port)
		}
		hs, ok := healthStatus[ep.Health]
		if !ok {
			return nil, fmt.Errorf("[%d] %s:%d: health %q unknown", i, ep.Address, ep.Port, ep.Health)
		}
		key := fmt.Sprintf("%s:%d", ep.Address, ep.Port)
		if prev := seen[key]; prev != nil {
			if healthRank[hs] < healthRank[prev.HealthStatus] {
				prev.HealthStatus = hs
			}
			continue
		}
		loc := byZone[ep.Zone]
		if loc == nil {
			// The locality is always set, even empty: grpc-go rejects a
			// locality without one.
			loc = &endpointv3.LocalityLbEndpoints{
				Locality:            &corev3.Locality{Zone: ep.Zone},
				LoadBalancingWeight: wrapperspb.UInt32(1),
			}
			byZone[ep.Zone] = loc
			zones = append(zones, ep.Zone)
		}
		lb := &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address:       ep.Address,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: ep.Port},
				}}},
			}},
			HealthStatus: hs,
		}
		seen[key] = lb
		loc.LbEndpoints = append(loc.LbEndpoints, lb)
	}
	sort.Strings(zones)
	out := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	for _, z := range zones {
		out.Endpoints = append(out.Endpoints, byZone[z])
	}
	return out, nil
}

// udpLoadAssignment gives each backend of a merged UDP cluster one locality,
// named after the backend's cluster and weighted like the backend.
func (b *builder) udpLoadAssignment(m udpMerged) (*endpointv3.ClusterLoadAssignment, error) {
	byName := make(map[string]*ir.Cluster, b.proxy.Clusters.Len())
	for c := range b.proxy.Clusters.Values() {
		if c != nil {
			byName[c.Name] = c
		}
	}
	out := &endpointv3.ClusterLoadAssignment{ClusterName: m.name}
	for _, share := range m.shares {
		c := byName[share.Cluster]
		if c == nil {
			return nil, fmt.Errorf("backend cluster %q does not exist", share.Cluster)
		}
		cla, err := loadAssignment(c)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", share.Cluster, err)
		}
		loc := &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{SubZone: share.Cluster},
			LoadBalancingWeight: wrapperspb.UInt32(share.Weight),
		}
		for _, l := range cla.Endpoints {
			loc.LbEndpoints = append(loc.LbEndpoints, l.LbEndpoints...)
		}
		out.Endpoints = append(out.Endpoints, loc)
	}
	return out, nil
}

// BuildEndpoints builds, without building the rest of p, the
// ClusterLoadAssignments of the named clusters of p and of every merged UDP
// cluster that joins one of them, sorted by name: the endpoint fast path,
// for a control loop that knows which clusters' endpoints changed. Names
// that are not clusters of p are ignored. The output is what Build would
// emit for those assignments, validated.
func BuildEndpoints(p *ir.Proxy, clusters []string, opts Options) ([]types.Resource, error) {
	if p == nil {
		return nil, fmt.Errorf("build endpoints: nil proxy")
	}
	want := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		want[c] = true
	}
	if opts.Flavor == "" {
		opts.Flavor = FlavorEnvoy
	}
	b := newBuilder(p, opts)
	var out []types.Resource
	for c := range p.Clusters.Values() {
		if c == nil || !want[c.Name] || c.OriginalDestination {
			continue
		}
		cla, err := loadAssignment(c)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: cluster %s: endpoints: %w", p.Name, c.Name, err)
		}
		out = append(out, cla)
	}
	for _, l := range p.Listeners {
		if l == nil || l.UDP == nil || b.flavor == FlavorGRPC { // gRPC clients get no UDP listeners
			continue
		}
		shares := udpShares(l.UDP)
		if len(shares) < 2 || !anyShare(shares, want) {
			continue
		}
		m := udpMerged{name: udpMergedName(l.Name), shares: shares}
		cla, err := b.udpLoadAssignment(m)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: cluster %s: endpoints: %w", p.Name, m.name, err)
		}
		out = append(out, cla)
	}
	sortByName(out)
	if err := Validate(&Resources{Endpoints: out}); err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p.Name, err)
	}
	return out, nil
}

func anyShare(shares []ir.WeightedCluster, names map[string]bool) bool {
	for _, s := range shares {
		if names[s.Cluster] {
			return true
		}
	}
	return false
}
