package envoy

import (
	"fmt"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
)

// Message limits. A state-of-the-world response carries every resource of
// one type a node asked for, so each type's total must fit in one gRPC
// message of the client's limit.
const (
	// MaxSendBytes is the largest message Gantry's xDS server sends; Envoy
	// sets no receive limit of its own for an ADS stream.
	MaxSendBytes = 64 << 20
	// GRPCClientMaxReceiveBytes is grpc-go's default receive limit, which a
	// proxyless client's xDS channel keeps.
	GRPCClientMaxReceiveBytes = 4 << 20
	// responseOverhead is kept free for the response's own fields (version,
	// nonce, type URL) and each resource's Any wrapper.
	responseOverhead = 64 << 10
	// anyOverhead is an Any's type URL and the field framing of one resource.
	anyOverhead = 128
)

// MaxResponseBytes is the largest response a client of flavor accepts.
func MaxResponseBytes(f Flavor) int {
	if f == FlavorGRPC {
		return GRPCClientMaxReceiveBytes
	}
	return MaxSendBytes
}

// TooLargeError says which resource type does not fit in one message.
type TooLargeError struct {
	Type    string
	Bytes   int
	Limit   int
	Largest []string // the largest resources of the type, "name (N bytes)"
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s resources add up to %d bytes, more than the %d bytes one xDS message may carry (largest: %v)", e.Type, e.Bytes, e.Limit, e.Largest)
}

// CheckSize returns a *TooLargeError when one type of r would not fit in a
// response of limit bytes.
func CheckSize(r *Resources, limit int) error {
	size := func(res types.Resource) int { return proto.Size(res) }
	return checkSize(r, limit, size, func(_ int, list []types.Resource) int { return sumSizes(list, size) })
}

// sumSizes is the size of list in a response, each resource's from size.
func sumSizes(list []types.Resource, size func(types.Resource) int) int {
	total := 0
	for _, res := range list {
		total += size(res) + anyOverhead
	}
	return total
}

// checkSize is CheckSize with the size of each resource from size, and the
// size of the i-th list of r (listeners, route configurations, clusters,
// endpoints, secrets) from total.
func checkSize(r *Resources, limit int, size func(types.Resource) int, total func(i int, list []types.Resource) int) error {
	for i, k := range []struct {
		name string
		list []types.Resource
	}{
		{name: "listener", list: r.Listeners}, {name: "route config", list: r.Routes},
		{name: "cluster", list: r.Clusters}, {name: "endpoints", list: r.Endpoints},
		{name: "secret", list: r.Secrets},
	} {
		bytes := responseOverhead + total(i, k.list)
		if bytes <= limit {
			continue
		}
		sizes := make([]int, len(k.list))
		for i, res := range k.list {
			sizes[i] = size(res) + anyOverhead
		}
		idx := make([]int, len(k.list))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return sizes[idx[a]] > sizes[idx[b]] })
		var largest []string
		for _, i := range idx[:min(3, len(idx))] {
			largest = append(largest, fmt.Sprintf("%s (%d bytes)", resourceName(k.list[i]), sizes[i]))
		}
		return &TooLargeError{Type: k.name, Bytes: bytes, Limit: limit, Largest: largest}
	}
	return nil
}
