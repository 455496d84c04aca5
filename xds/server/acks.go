package server

import (
	"hash/maphash"
	"math/bits"
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
// given the set's own sorted list instead of decoding them. The protocol
// treats the names as a set, and the server reads them as one; the set's
// list is never written.
//
// The check costs one walk over the request and a hash of each name, in
// any order, with no allocation and no lookup per name: the digest of the
// names is their count and the sum, as a 128-bit integer, of a 64-bit hash
// of each (maphash, seeded per stream). The first request that names a set is
// checked name by name (permutes: a map lookup a name); its digest is then
// the set's, for this stream, and a later request of the same type whose
// digest is the same names the set. A request that names anything else
// (a name missing, another in its place, one name twice in place of
// another) has a digest that differs from the set's by the sum of c*h(x)
// over the names x it names c times more, or fewer, than the set does
// (c != 0): for that to be 0, the hash of one such name must be the one
// value that cancels the others', one chance in 2^64 for a hash the client
// cannot compute. The sum is exact, not modulo 2^64, so that a name
// repeated 2^k times cannot cancel k bits of its hash out. The client never
// sees the seed, so it cannot search for a collision but by sending
// requests at one chance in 2^64 each, and a false match only gives its own
// stream the subscription it already has. The server trusts a seeded 64-bit
// hash of the names in their order in the same way to tell a repeated
// subscription (hashNames in sotw.go).

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
	seed    maphash.Seed          // of the names' digests
	// seen is scratch space of permutes, kept for the next request.
	seen []uint64
}

// typeNames is what a stream's codec knows of one type.
type typeNames struct {
	// set is the subscription's names; nil for none or a wildcard one.
	set atomic.Pointer[cache.NameSet]
	// matched is the last set a request was found, name by name, to name,
	// and sum that set's digest (with the stream's seed). Only the codec
	// uses them.
	matched *cache.NameSet
	sum     digest
	// checks counts the requests checked name by name (for the tests).
	checks int
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
	if s, ok := scan(b, r.last.seed); ok {
		if set := r.last.match(b, &s); set != nil && s.decodeOthers(b, r.req) == nil {
			r.req.ResourceNames = set.Names()
			return nil
		}
	}
	return decodeRequest(b, r.req)
}

// scanned is what one walk over an encoded DiscoveryRequest finds.
type scanned struct {
	// typeURL is the last type_url (the one decoding keeps), nil for none.
	typeURL []byte
	// count and sum are the names' digest.
	count int
	sum   digest
	// The names are b[from:to], unless another field lies among them
	// (split).
	from, to int
	split    bool
}

// digest is the sum, as an integer, of the 64-bit hashes of names.
type digest struct{ hi, lo uint64 }

// scan walks the encoded request b once, hashing its names with seed. It
// reports false for malformed input.
func scan(b []byte, seed maphash.Seed) (scanned, bool) {
	var s scanned
	for at := 0; at < len(b); {
		if at+1 < len(b) && b[at] == nameTag && b[at+1] < 0x80 {
			// A name shorter than 128 bytes (the common case), read here.
			end := at + 2 + int(b[at+1])
			if end > len(b) {
				return s, false
			}
			s.addName(maphash.Bytes(seed, b[at+2:end]), at, end)
			at = end
			continue
		}
		num, v, end := nextField(b, at)
		switch {
		case end < 0:
			return s, false
		case num == namesField:
			s.addName(maphash.Bytes(seed, v), at, end)
		case num == typeURLField:
			s.typeURL = v
		}
		at = end
	}
	return s, true
}

// nameTag is the tag of a request's names: field namesField, of bytes.
const nameTag = byte(namesField<<3 | protowire.BytesType)

// nextField reads the field that starts at b[at]: its number and value if
// it is a bytes field (number 0 if not), and where it ends (-1 if it is
// malformed).
func nextField(b []byte, at int) (protowire.Number, []byte, int) {
	num, typ, n := protowire.ConsumeTag(b[at:])
	if n < 0 {
		return 0, nil, -1
	}
	if typ != protowire.BytesType {
		m := protowire.ConsumeFieldValue(num, typ, b[at+n:])
		if m < 0 {
			return 0, nil, -1
		}
		return 0, nil, at + n + m
	}
	v, m := protowire.ConsumeBytes(b[at+n:])
	if m < 0 {
		return 0, nil, -1
	}
	return num, v, at + n + m
}

// addName adds the name of hash h, encoded in b[at:end], to s.
func (s *scanned) addName(h uint64, at, end int) {
	switch {
	case s.count == 0:
		s.from = at
	case s.to != at:
		s.split = true
	}
	var carry uint64
	s.sum.lo, carry = bits.Add64(s.sum.lo, h, 0)
	s.sum.hi += carry
	s.count++
	s.to = end
}

// decodeOthers decodes the fields of b other than its names into m (reset):
// the encoding of a message is the merge of its parts.
func (s *scanned) decodeOthers(b []byte, m proto.Message) error {
	proto.Reset(m)
	opts := proto.UnmarshalOptions{Merge: true}
	if err := opts.Unmarshal(b[:s.from], m); err != nil {
		return err
	}
	return opts.Unmarshal(b[s.to:], m)
}

// match returns the subscription of the type of the request b (scanned as
// s) when b names its names, in any order, each once; else nil. A request
// whose names are split by other fields is not matched: no client sends
// one.
func (l *lastNames) match(b []byte, s *scanned) *cache.NameSet {
	t := l.types[string(s.typeURL)] // no allocation: a map key
	if len(s.typeURL) == 0 {
		t = l.types[l.typeURL]
	}
	if t == nil || s.split {
		return nil
	}
	set := t.set.Load()
	if set.Len() == 0 || s.count != set.Len() {
		return nil
	}
	if set == t.matched && s.sum == t.sum {
		return set
	}
	t.checks++
	if !l.permutes(b, set) {
		return nil
	}
	t.matched, t.sum = set, s.sum
	return set
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
	ok := eachField(b, func(f field) bool {
		if !f.is(namesField) {
			return true
		}
		i, found := set.Position(f.bytes(b))
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
