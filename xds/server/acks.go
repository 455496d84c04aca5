package server

import (
	"slices"
	"sort"

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
// names it already has. So a stream's codec remembers the names of the
// last request of each type it decoded, and a request that names the same
// ones (the same bytes: in the same order, or in another order each once,
// as grpc-go's xDS client lists them from a map) is given the remembered
// slice, after a comparison that allocates nothing. The protocol treats the
// names as a set, and the server reads them as one. Every remembered slice
// is shared with the requests it was given to and never written.

// sotwRecv is what a state-of-the-world stream receives a request into: the
// request, and the names the stream's earlier requests carried.
type sotwRecv struct {
	req  *discoveryv3.DiscoveryRequest
	last *lastNames
}

// lastNames are the names of a stream's last request of each type (at most
// maxRemembered types: a client that names unknown types gets no more).
// Only the stream's receiving goroutine uses it.
type lastNames struct {
	byType map[string]remembered
	// seen is scratch space of permutes, kept for the next request.
	seen []uint64
}

var maxRemembered = len(cache.TypeOrder) + 1

// remembered is the resource names of a request as it was decoded, and
// the same sorted (made the first time a request names them in another
// order).
type remembered struct {
	list, sorted []string
}

// decode decodes the DiscoveryRequest b into r.req: its names are the
// remembered ones when they match, decoded (and remembered) otherwise.
// Malformed input is decoded the ordinary way, which reports it.
func (r *sotwRecv) decode(b []byte) error {
	if r.last.byType == nil {
		r.last.byType = map[string]remembered{}
	}
	if list := r.last.match(b); list != nil {
		proto.Reset(r.req)
		if err := decodeWithout(b, namesField, r.req); err == nil {
			r.req.ResourceNames = list
			return nil
		}
	}
	if err := decodeRequest(b, r.req); err != nil {
		return err
	}
	t := r.req.GetTypeUrl()
	if _, ok := r.last.byType[t]; ok || len(r.last.byType) < maxRemembered {
		r.last.byType[t] = remembered{list: r.req.ResourceNames}
	}
	return nil
}

// match returns the remembered names of the type of the request b when b
// names the same ones, else nil.
func (l *lastNames) match(b []byte) []string {
	typeURL, ok := lastBytes(b, typeURLField)
	if !ok {
		return nil
	}
	t := string(typeURL) // no allocation: a map key
	prev := l.byType[t]
	if len(prev.list) == 0 {
		return nil
	}
	i := 0
	same := eachName(b, func(n []byte) bool {
		if i >= len(prev.list) || string(n) != prev.list[i] {
			return false
		}
		i++
		return true
	})
	if same && i == len(prev.list) {
		return prev.list
	}
	if prev.sorted == nil {
		prev.sorted = slices.Clone(prev.list)
		sort.Strings(prev.sorted)
		l.byType[t] = prev
	}
	if !l.permutes(b, prev.sorted) {
		return nil
	}
	return prev.list
}

// permutes reports whether the names of b are those of sorted, each once.
func (l *lastNames) permutes(b []byte, sorted []string) bool {
	words := (len(sorted) + 63) / 64
	if cap(l.seen) < words {
		l.seen = make([]uint64, words)
	}
	seen := l.seen[:words]
	clear(seen)
	count := 0
	ok := eachName(b, func(n []byte) bool {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= string(n) })
		if i == len(sorted) || sorted[i] != string(n) || seen[i/64]&(1<<(i%64)) != 0 {
			return false
		}
		seen[i/64] |= 1 << (i % 64)
		count++
		return true
	})
	// Each name found at its own position: count equal means every one.
	return ok && count == len(sorted)
}

// eachName calls fn with the value of every resource name of the encoded
// request b, in order, until fn returns false; it reports whether b was
// read to its end (false for malformed input, or when fn stopped).
func eachName(b []byte, fn func([]byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		if num == namesField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 || !fn(v) {
				return false
			}
			b = b[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// lastBytes returns the value of the last occurrence of the bytes field
// num in b (the one decoding keeps), "" when there is none; false for
// malformed input.
func lastBytes(b []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(n, typ, b[l:])
		if m < 0 {
			return nil, false
		}
		if n == num && typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(b[l:])
		}
		b = b[l+m:]
	}
	return out, true
}

// decodeWithout decodes b, except its bytes fields num, into m (reset):
// the runs of other fields one after the other, as the encoding of a
// message is the merge of its parts.
func decodeWithout(b []byte, num protowire.Number, m proto.Message) error {
	opts := proto.UnmarshalOptions{Merge: true}
	start, at := 0, 0
	for at < len(b) {
		n, typ, l := protowire.ConsumeTag(b[at:])
		if l < 0 {
			return protowire.ParseError(l)
		}
		v := protowire.ConsumeFieldValue(n, typ, b[at+l:])
		if v < 0 {
			return protowire.ParseError(v)
		}
		if n == num && typ == protowire.BytesType {
			if err := opts.Unmarshal(b[start:at], m); err != nil {
				return err
			}
			start = at + l + v
		}
		at += l + v
	}
	return opts.Unmarshal(b[start:], m)
}
