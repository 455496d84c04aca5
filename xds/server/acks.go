package server

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"sync/atomic"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/xds/cache"
)

// typeURLField is the field number of a DiscoveryRequest's type_url.
const typeURLField = 4

// A state-of-the-world client re-sends every name it subscribes to with
// every request, its ACKs included: 10,000 endpoint set names per endpoint
// change for a large Gateway. Decoding them again would make 10,000 new
// strings per change, garbage as soon as the server finds they are the
// names it already subscribes the stream to. So the stream tells its codec
// the set of names it subscribes to of each type (the cache's interned
// NameSet, shared by every stream with the same names), and a request that
// names exactly those, in any order (Envoy keeps its own; grpc-go's xDS
// client lists them from a map, in a new order every time), each once, is
// given the set's own sorted list instead of decoding them, after a check
// that allocates nothing. The protocol treats the names as a set, and the
// server reads them as one; the set's list is never written.

// sotwRecv is what a state-of-the-world stream receives a request into: the
// request, and the names the stream subscribes to.
type sotwRecv struct {
	req  *discoveryv3.DiscoveryRequest
	last *lastNames
}

// lastNames is the set of names a stream subscribes to of each type, as its
// loop last set it (publish), for its receiving goroutine's codec.
type lastNames struct {
	// typeURL is the stream's type ("" for ADS): a request of a per-type
	// service may leave its type out.
	typeURL string
	types   map[string]*typeNames // of every type served, made once
	seed    maphash.Seed
	// seen is scratch space of match, kept for the next request.
	seen []uint64
}

// typeNames is what a stream's codec knows of one type.
type typeNames struct {
	// set is the subscription's names; nil for none or a wildcard one.
	set atomic.Pointer[cache.NameSet]
	// matched is the set a request last matched, and sum the hash of that
	// request's names as encoded, in their order: a client that repeats
	// them as it sent them (Envoy) costs a hash of their bytes (64 bits,
	// seeded per stream, as hashNames in sotw.go). Only the codec uses
	// them.
	matched *cache.NameSet
	sum     uint64
}

func newLastNames(typeURL string) *lastNames {
	l := &lastNames{typeURL: typeURL, types: make(map[string]*typeNames, len(cache.TypeOrder)), seed: maphash.MakeSeed()}
	for _, t := range cache.TypeOrder {
		l.types[t] = &typeNames{}
	}
	return l
}

// publish records the stream's subscription of typeURL: its names, unless
// it is a wildcard one (a request naming the same names without "*"
// changes it).
func (l *lastNames) publish(typeURL string, sub cache.Subscription) {
	t, ok := l.types[typeURL]
	if !ok {
		return
	}
	if sub.Wildcard {
		t.set.Store(nil)
	} else {
		t.set.Store(sub.Names)
	}
}

// decode decodes the DiscoveryRequest b into r.req: its names are the
// subscription's list when they match it, decoded otherwise. Malformed
// input is decoded the ordinary way, which reports it.
func (r *sotwRecv) decode(b []byte) error {
	if set := r.last.match(b); set != nil {
		proto.Reset(r.req)
		if err := decodeWithout(b, namesField, r.req); err == nil {
			r.req.ResourceNames = set.Names()
			return nil
		}
	}
	return decodeRequest(b, r.req)
}

// match returns the subscription of the type of the request b when b names
// its names, in any order, each once; else nil.
func (l *lastNames) match(b []byte) *cache.NameSet {
	typeURL, ok := lastBytes(b, typeURLField)
	if !ok {
		return nil
	}
	t := l.types[string(typeURL)] // no allocation: a map key
	if len(typeURL) == 0 {
		t = l.types[l.typeURL]
	}
	if t == nil {
		return nil
	}
	set := t.set.Load()
	if set.Len() == 0 {
		return nil
	}
	sum, ok := l.hashNames(b)
	if !ok {
		return nil
	}
	if set == t.matched && sum == t.sum {
		return set
	}
	if !l.permutes(b, set) {
		return nil
	}
	t.matched, t.sum = set, sum
	return set
}

// hashNames hashes the names of the request b as encoded, in order.
func (l *lastNames) hashNames(b []byte) (uint64, bool) {
	var h maphash.Hash
	h.SetSeed(l.seed)
	ok := eachName(b, func(n []byte) bool {
		var size [binary.MaxVarintLen64]byte
		h.Write(size[:binary.PutUvarint(size[:], uint64(len(n)))])
		h.Write(n)
		return true
	})
	return h.Sum64(), ok
}

// permutes reports whether the names of the request b are those of set,
// each once.
func (l *lastNames) permutes(b []byte, set *cache.NameSet) bool {
	words := (set.Len() + 63) / 64
	if cap(l.seen) < words {
		l.seen = make([]uint64, words)
	}
	seen := l.seen[:words]
	clear(seen)
	count := 0
	ok := eachName(b, func(n []byte) bool {
		i, found := set.Position(n)
		if !found || seen[i/64]&(1<<(i%64)) != 0 {
			return false
		}
		seen[i/64] |= 1 << (i % 64)
		count++
		return true
	})
	// Each name at its own position: as many as the set's are all of them.
	return ok && count == set.Len()
}

// eachName calls fn with the value of every resource name of the encoded
// request b, in order, until fn returns false; it reports whether b was
// read to its end (false for malformed input, or when fn stopped).
func eachName(b []byte, fn func([]byte) bool) bool {
	return eachField(b, func(f field) bool {
		return !f.is(namesField) || fn(f.bytes(b))
	})
}

// lastBytes returns the value of the last occurrence of the bytes field
// num in b (the one decoding keeps), "" when there is none; false for
// malformed input.
func lastBytes(b []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	ok := eachField(b, func(f field) bool {
		if f.is(num) {
			out = f.bytes(b)
		}
		return true
	})
	return out, ok
}

// decodeWithout decodes b, except its bytes fields num, into m (reset):
// the runs of other fields one after the other, as the encoding of a
// message is the merge of its parts.
func decodeWithout(b []byte, num protowire.Number, m proto.Message) error {
	opts := proto.UnmarshalOptions{Merge: true}
	start := 0
	var err error
	ok := eachField(b, func(f field) bool {
		if f.is(num) {
			err = opts.Unmarshal(b[start:f.at], m)
			start = f.end
		}
		return err == nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return errMalformed
	}
	return opts.Unmarshal(b[start:], m)
}

// errMalformed is decodeWithout's answer to a message it cannot walk; the
// ordinary decode then says what is wrong.
var errMalformed = errors.New("malformed message")
