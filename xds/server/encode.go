package server

import (
	"slices"
	"sync"
	"weak"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/xds/cache"
)

// A response carrying many resources (a Gateway's 10,000 endpoint sets) is
// the same bytes for every stream sent the same list, but for its version
// and nonce. Its resources are encoded once per list and shared: each
// stream's message is its own few bytes of the other fields followed by the
// shared bytes (protocol buffers let fields come in any order, and a
// repeated field's elements in several runs). A client decodes the same
// message it would otherwise; the server neither encodes 10,000 resources
// per stream nor holds a copy of them per stream while the client reads.

// preEncoded is a response whose resources field is already encoded.
type preEncoded struct {
	head proto.Message // the response without its resources
	body mem.BufferSlice
}

// Kinds of encoded lists: the resources of a DiscoveryResponse (Any) or of
// a DeltaDiscoveryResponse (Resource).
const (
	sotwKind = iota
	deltaKind
)

const (
	// minShared is the size of a list's resources from which it is
	// shared; a smaller response is encoded per stream.
	minShared = 32 << 10
	// largeValue is the size of a resource whose bytes the encoding
	// refers to rather than copies.
	largeValue = 16 << 10
	// maxBodies and maxBodyBytes bound the lists remembered (the most
	// recent one is always kept). A body refers to its resources' bytes,
	// so the bodies of lists already replaced keep old versions alive until
	// they are dropped: the bound keeps that to a few large responses.
	maxBodies    = 4
	maxBodyBytes = 16 << 20
)

// bodyKey names a list by a weak pointer to its first element (equal for
// the same list while it lives, never for another) and its length: the
// bodies hold no list, so a list no stream or snapshot holds any more is
// collected with its resources, and its body dropped.
type bodyKey struct {
	kind int
	list weak.Pointer[*cache.Resource]
	n    int
}

// bodies remembers the encoding of the last lists sent.
type bodies struct {
	mu    sync.Mutex
	m     map[bodyKey]mem.BufferSlice
	order []bodyKey
}

// get returns the shared encoding of list's resources field, or nil when
// the list is too small to be worth sharing.
func (b *bodies) get(kind int, list []*cache.Resource) mem.BufferSlice {
	if !shared(list) {
		return nil
	}
	k := bodyKey{kind: kind, list: weak.Make(&list[0]), n: len(list)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if buf, ok := b.m[k]; ok {
		return buf
	}
	if b.m == nil {
		b.m = map[bodyKey]mem.BufferSlice{}
	}
	b.order = slices.DeleteFunc(b.order, func(k bodyKey) bool { // collected lists
		if k.list.Value() == nil {
			delete(b.m, k)
			return true
		}
		return false
	})
	buf := encodeList(kind, list)
	b.m[k] = buf
	b.order = append(b.order, k)
	for len(b.order) > 1 && (len(b.order) > maxBodies || b.bytes() > maxBodyBytes) {
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
	return buf
}

// shared reports whether list is large enough to be encoded once and
// shared (and its large resources referred to).
func shared(list []*cache.Resource) bool {
	size := 0
	for _, r := range list {
		size += r.Size()
	}
	return size >= minShared
}

// bytes is the size of the bodies remembered.
func (b *bodies) bytes() int {
	n := 0
	for _, buf := range b.m {
		n += buf.Len()
	}
	return n
}

// encodeList encodes the resources field (number 2 in both messages) of
// list, referring to the bytes of large resources instead of copying them:
// a route configuration's parts (runs of virtual hosts shared with other
// versions) each become one buffer of the body.
func encodeList(kind int, list []*cache.Resource) mem.BufferSlice {
	var out mem.BufferSlice
	var cur []byte
	for _, r := range list {
		typeURL, size := r.TypeURL(), r.Size()
		anyLen := sizeBytes(1, len(typeURL)) + sizeBytes(2, size)
		elem := anyLen
		if kind == deltaKind {
			elem = sizeBytes(1, len(r.Hash)) + sizeBytes(2, anyLen) + sizeBytes(3, len(r.Name))
		}
		cur = protowire.AppendTag(cur, 2, protowire.BytesType)
		cur = protowire.AppendVarint(cur, uint64(elem))
		if kind == deltaKind {
			cur = appendString(cur, 1, r.Hash)
			cur = protowire.AppendTag(cur, 2, protowire.BytesType)
			cur = protowire.AppendVarint(cur, uint64(anyLen))
		}
		cur = appendString(cur, 1, typeURL)
		if size > 0 {
			cur = protowire.AppendTag(cur, 2, protowire.BytesType)
			cur = protowire.AppendVarint(cur, uint64(size))
			if size >= largeValue {
				out = append(out, mem.SliceBuffer(cur))
				for _, p := range r.Parts() {
					out = append(out, mem.SliceBuffer(p))
				}
				cur = nil
			} else {
				cur = r.AppendValue(cur)
			}
		}
		if kind == deltaKind {
			cur = appendString(cur, 3, r.Name)
		}
	}
	if len(cur) > 0 {
		out = append(out, mem.SliceBuffer(cur))
	}
	return out
}

// sizeBytes is the encoded size of a bytes field of n bytes (none when
// empty, as proto3 omits it).
func sizeBytes(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
