package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"strings"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TypeOrder is the order in which a change is pushed to a node: secrets and
// clusters (with their endpoints) before the listeners and routes that use
// them, so a new reference never arrives before its target.
var TypeOrder = []string{
	resource.SecretType,
	resource.ClusterType,
	resource.EndpointType,
	resource.ListenerType,
	resource.RouteType,
}

func knownType(typeURL string) bool {
	for _, t := range TypeOrder {
		if t == typeURL {
			return true
		}
	}
	return false
}

// partialType reports whether a state-of-the-world response of typeURL may
// carry only the resources that changed: the protocol lets a client infer
// nothing from a route configuration, endpoint set or secret missing from a
// response. Listener and cluster responses are always complete.
func partialType(typeURL string) bool {
	switch typeURL {
	case resource.RouteType, resource.EndpointType, resource.SecretType:
		return true
	}
	return false
}

// Resource is one marshalled resource. It is immutable and shared by every
// response, every node and every key that carries the same content:
// marshalled once, sent many times.
type Resource struct {
	Name string
	// Hash is the content hash of the deterministic marshal; it is also the
	// resource's version in delta xDS.
	Hash string
	// Message is the message as handed to the cache: for a route
	// configuration, a flat *routev3.RouteConfiguration or a
	// ListedRouteConfiguration, which makes its flat list when read.
	Message types.Resource
	// any is the packed resource when its bytes are one slice, parted
	// otherwise.
	any    *anypb.Any
	parted *parted
	// digest is the hash of name and Hash; a type's version is the sum of
	// its resources' digests, so it is updated in O(1) per change.
	digest digest
	// cut: a run of a view's stamps ends after this resource (views.go).
	// It follows from the name alone, so every version of a resource
	// agrees.
	cut bool
	// refs are the names this resource needs in the same snapshot: the RDS
	// route configurations of a listener, the EDS endpoints of a cluster.
	refs []string
	// held counts the stored type states (of any key) that hold this
	// resource; the pool forgets it at zero. Guarded by the cache's setMu.
	held int
	// released is set once the pool let go of its pieces (splice.go).
	released bool
	// delta is the resource as delta responses carry it (delta.go).
	delta atomic.Pointer[discoveryv3.Resource]
}

// parted is a resource whose bytes are several slices (a large route
// configuration: splice.go), in order, shared with other versions of it.
type parted struct {
	typeURL string
	parts   [][]byte
	size    int
}

// Any is the packed resource; callers must not modify it. It is shared
// when the resource's bytes are one slice, and made anew (a copy of the
// parts, which the resource does not keep) otherwise: for a few small
// responses and the config dump. Responses refer to Parts instead.
func (r *Resource) Any() *anypb.Any {
	if r.any != nil {
		return r.any
	}
	return &anypb.Any{TypeUrl: r.parted.typeURL, Value: r.AppendValue(make([]byte, 0, r.parted.size))}
}

// TypeURL is the type URL of the packed resource.
func (r *Resource) TypeURL() string {
	if r.any != nil {
		return r.any.GetTypeUrl()
	}
	return r.parted.typeURL
}

// Size is the length of the packed resource's value (the marshalled
// message).
func (r *Resource) Size() int {
	if r.any != nil {
		return len(r.any.GetValue())
	}
	return r.parted.size
}

// Parts are the bytes of the packed resource's value, in order: one slice,
// or the shared parts of a route configuration (a few hundred at 30,000
// virtual hosts). Callers must not modify them.
func (r *Resource) Parts() [][]byte {
	if r.any != nil {
		return [][]byte{r.any.GetValue()}
	}
	return r.parted.parts
}

// AppendValue appends the packed resource's value to b.
func (r *Resource) AppendValue(b []byte) []byte {
	if r.any != nil {
		return append(b, r.any.GetValue()...)
	}
	for _, p := range r.parted.parts {
		b = append(b, p...)
	}
	return b
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// cutAt reports whether a run of a view's stamps ends after name: one name
// in about chunkCut, by the top bits of the name's hash. It follows from
// the name alone, the same for every version in this process.
func cutAt(name string) bool {
	return maphash.String(cutSeed, name)>>(64-cutBits) == 0
}

// cutSeed seeds cutAt's hash, for the life of the process.
var cutSeed = maphash.MakeSeed()

func newResource(typeURL string, msg types.Resource) (*Resource, error) {
	return newPieces().newResource(typeURL, msg)
}

// newResource marshals and hashes msg; a route configuration from its
// pieces (splice.go), which it then holds until released.
func (ps *pieces) newResource(typeURL string, msg types.Resource) (*Resource, error) {
	name := cachev3.GetResourceName(msg)
	if name == "" {
		return nil, fmt.Errorf("%s resource without a name", shortType(typeURL))
	}
	refs, err := referencesOf(msg)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", shortType(typeURL), name, err)
	}
	var parts [][]byte
	var b []byte
	var hash string
	if isRouteConfig(msg) {
		if parts, hash, err = ps.marshalRouteConfig(msg); err == nil && len(parts) == 1 {
			b, parts = parts[0], nil
		}
	} else if b, err = deterministic.Marshal(msg); err == nil {
		hash = hashBytes(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %q: marshal: %w", shortType(typeURL), name, err)
	}
	r := &Resource{Name: name, Hash: hash, Message: msg, refs: refs}
	if len(parts) > 1 {
		r.parted = &parted{typeURL: typeURL, parts: parts, size: partsLen(parts)}
	} else {
		r.any = &anypb.Any{TypeUrl: typeURL, Value: b}
	}
	r.digest = digestOf(r.Name, r.Hash)
	r.cut = cutAt(r.Name)
	return r, nil
}

// release lets go of what newResource held for r, once.
func (ps *pieces) release(r *Resource) {
	if r.released {
		return
	}
	r.released = true
	if isRouteConfig(r.Message) {
		ps.releaseRouteConfig(r.Message)
	}
}

// referencesOf lists what a listener or an EDS cluster refers to.
func referencesOf(msg types.Resource) ([]string, error) {
	switch m := msg.(type) {
	case *listenerv3.Listener:
		return listenerRouteNames(m)
	case *clusterv3.Cluster:
		if m.GetType() != clusterv3.Cluster_EDS {
			return nil, nil
		}
		if n := m.GetEdsClusterConfig().GetServiceName(); n != "" {
			return []string{n}, nil
		}
		return []string{m.GetName()}, nil
	}
	return nil, nil
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// digest is a 128-bit hash; sums of digests identify sets of resources.
type digest [2]uint64

func digestOf(name, hash string) digest {
	sum := sha256.Sum256([]byte(name + "\x00" + hash))
	return digest{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])}
}

func (d digest) add(o digest) digest { return digest{d[0] + o[0], d[1] + o[1]} }
func (d digest) sub(o digest) digest { return digest{d[0] - o[0], d[1] - o[1]} }

func (d digest) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], d[0])
	binary.BigEndian.PutUint64(b[8:], d[1])
	return hex.EncodeToString(b[:])
}

// versionOf is the version of a set of resources: the sum of their digests,
// independent of their order.
func versionOf(rs []*Resource) string {
	var d digest
	for _, r := range rs {
		d = d.add(r.digest)
	}
	return d.String()
}

// shortType is the message name of a type URL, for errors and metrics.
func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// snapshot is the configuration of one Key. Immutable once stored.
type snapshot struct {
	types map[string]*typeState
}

func (s *snapshot) get(typeURL string) *typeState {
	if s == nil {
		return emptyType
	}
	if ts, ok := s.types[typeURL]; ok {
		return ts
	}
	return emptyType
}

// withType returns a copy of s whose typeURL is ts.
func (s *snapshot) withType(typeURL string, ts *typeState) *snapshot {
	next := &snapshot{types: make(map[string]*typeState, len(s.types)+1)}
	for t, old := range s.types {
		next.types[t] = old
	}
	next.types[typeURL] = ts
	return next
}

// messages returns the protos of a snapshot by type, for validation.
func (s *snapshot) messages() map[string][]types.Resource {
	out := make(map[string][]types.Resource, len(s.types))
	for t, ts := range s.types {
		for r := range ts.list.Values() {
			out[t] = append(out[t], r.Message)
		}
	}
	return out
}
