package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

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

// Resource is one marshalled resource. It is immutable and shared by every
// response (and every node) that carries it: marshalled once, sent many times.
type Resource struct {
	Name string
	// Hash is the content hash of the deterministic marshal; it is also the
	// resource's version in delta xDS.
	Hash    string
	Message types.Resource
	any     *anypb.Any
}

// Any is the packed resource, shared; callers must not modify it.
func (r *Resource) Any() *anypb.Any { return r.any }

var deterministic = proto.MarshalOptions{Deterministic: true}

func newResource(typeURL string, msg types.Resource) (*Resource, error) {
	name := cachev3.GetResourceName(msg)
	if name == "" {
		return nil, fmt.Errorf("%s resource without a name", shortType(typeURL))
	}
	b, err := deterministic.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("%s %q: marshal: %w", shortType(typeURL), name, err)
	}
	return &Resource{
		Name:    name,
		Hash:    hashBytes(b),
		Message: msg,
		any:     &anypb.Any{TypeUrl: typeURL, Value: b},
	}, nil
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// versionOf hashes the names and hashes of rs, which are sorted by name.
func versionOf(rs []*Resource) string {
	h := sha256.New()
	for _, r := range rs {
		h.Write([]byte(r.Name))
		h.Write([]byte{0})
		h.Write([]byte(r.Hash))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// shortType is the message name of a type URL, for errors and metrics.
func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// typeState is the resources of one type in one snapshot. Immutable.
type typeState struct {
	version string
	sorted  []*Resource
	byName  map[string]*Resource
	// changedAt is when the input change that produced this version
	// happened (the earliest change of the batch).
	changedAt time.Time
}

var emptyType = &typeState{version: versionOf(nil), byName: map[string]*Resource{}}

func newTypeState(typeURL string, msgs []types.Resource, changedAt time.Time) (*typeState, error) {
	ts := &typeState{byName: make(map[string]*Resource, len(msgs)), changedAt: changedAt}
	for _, m := range msgs {
		r, err := newResource(typeURL, m)
		if err != nil {
			return nil, err
		}
		if _, dup := ts.byName[r.Name]; dup {
			return nil, fmt.Errorf("%s %q: duplicate name", shortType(typeURL), r.Name)
		}
		ts.byName[r.Name] = r
		ts.sorted = append(ts.sorted, r)
	}
	sort.Slice(ts.sorted, func(i, j int) bool { return ts.sorted[i].Name < ts.sorted[j].Name })
	ts.version = versionOf(ts.sorted)
	return ts, nil
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

// messages returns the protos of a snapshot by type, for validation.
func (s *snapshot) messages() map[string][]types.Resource {
	out := make(map[string][]types.Resource, len(s.types))
	for t, ts := range s.types {
		for _, r := range ts.sorted {
			out[t] = append(out[t], r.Message)
		}
	}
	return out
}
