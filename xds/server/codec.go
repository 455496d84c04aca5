package server

import (
	"fmt"
	"math/bits"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// namesField is the field number of the resource names of a
// DiscoveryRequest (resource_names) and of a DeltaDiscoveryRequest
// (resource_names_subscribe); versionsField that of a
// DeltaDiscoveryRequest's initial_resource_versions.
const (
	namesField    = 3
	versionsField = 5
)

// codec is gRPC's proto codec, except that a discovery request's list of
// resource names (and a delta request's map of initial versions) is
// allocated once at its final size. Decoding appends the
// names one by one, so a request of 10,000 names otherwise grows its slice
// about twenty times and leaves three times its size as garbage per request
// and stream. A state-of-the-world stream receives into a sotwRecv, whose
// names, when they are the stream's subscription, are not decoded at all
// (acks.go).
type codec struct {
	encoding.CodecV2
}

func newCodec() codec {
	return codec{CodecV2: encoding.GetCodecV2(grpcproto.Name)}
}

// Marshal encodes v; a pre-encoded response is its head followed by its
// shared resources (encode.go).
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	e, ok := v.(*preEncoded)
	if !ok {
		return c.CodecV2.Marshal(v)
	}
	head, err := proto.Marshal(e.head)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", e.head, err)
	}
	out := make(mem.BufferSlice, 0, 1+len(e.body))
	return append(append(out, mem.SliceBuffer(head)), e.body...), nil
}

// Unmarshal decodes data into v.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch v.(type) {
	case *sotwRecv, *discoveryv3.DiscoveryRequest, *discoveryv3.DeltaDiscoveryRequest:
	default:
		return c.CodecV2.Unmarshal(data, v)
	}
	b, joined := contiguous(data)
	if joined != nil {
		defer release(joined)
	}
	switch m := v.(type) {
	case *sotwRecv:
		return m.decode(b)
	case *discoveryv3.DiscoveryRequest:
		return decodeRequest(b, m)
	}
	req := v.(*discoveryv3.DeltaDiscoveryRequest)
	return decodeSized(b, req, func(b []byte) {
		if n := countField(b, namesField); n > 0 {
			req.ResourceNamesSubscribe = make([]string, 0, n)
		}
		if n := countField(b, versionsField); n > 0 {
			req.InitialResourceVersions = make(map[string]string, n)
		}
	})
}

// requestBuffers hold, by size (capacity 2^i in requestBuffers[i]), the
// buffers a request that arrives in several buffers (gRPC hands over one an
// HTTP/2 frame, 16 KiB) is copied into to be decoded. Unlike gRPC's pool,
// which clears each buffer it hands out (one of 1 MiB for a request of 32
// KiB to 1 MiB), they are handed out as they were given back: the copy
// overwrites every byte decoding reads, and decoding copies what it keeps.
var requestBuffers [bits.UintSize]sync.Pool

// contiguous returns the bytes of data in one slice: its buffer's own when
// it is one, else a copy in a buffer of requestBuffers, which it returns too
// (for release once the bytes are decoded).
func contiguous(data mem.BufferSlice) ([]byte, *[]byte) {
	n := data.Len()
	switch {
	case len(data) == 1:
		return data[0].ReadOnlyData(), nil
	case n == 0:
		return nil, nil
	}
	size := bits.Len(uint(n - 1)) // the smallest 2^size >= n
	p, _ := requestBuffers[size].Get().(*[]byte)
	if p == nil {
		b := make([]byte, 1<<size)
		p = &b
	}
	data.CopyTo((*p)[:n])
	return (*p)[:n], p
}

// release gives a buffer of contiguous back to requestBuffers.
func release(p *[]byte) {
	requestBuffers[bits.Len(uint(cap(*p)-1))].Put(p)
}

// decodeRequest decodes the DiscoveryRequest b into req, its names list
// allocated at its final size.
func decodeRequest(b []byte, req *discoveryv3.DiscoveryRequest) error {
	return decodeSized(b, req, func(b []byte) {
		if n := countField(b, namesField); n > 0 {
			req.ResourceNames = make([]string, 0, n)
		}
	})
}

// decodeSized resets m, sizes its lists and maps with size (given the
// encoded message), then decodes b into it.
func decodeSized(b []byte, m proto.Message, size func([]byte)) error {
	proto.Reset(m)
	size(b)
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("decoding %T: %w", m, err)
	}
	return nil
}

// countField counts the top-level occurrences of field num in the encoded
// message b; malformed input stops the count (decoding then reports it).
func countField(b []byte, num protowire.Number) int {
	count := 0
	eachField(b, func(f field) bool {
		if f.is(num) {
			count++
		}
		return true
	})
	return count
}

// field is one top-level field of an encoded message: its number and wire
// type, and where it starts, where its value starts and where it ends.
type field struct {
	num          protowire.Number
	typ          protowire.Type
	at, val, end int
}

// is reports whether f is the bytes field num.
func (f field) is(num protowire.Number) bool {
	return f.num == num && f.typ == protowire.BytesType
}

// bytes returns the value of f, a bytes field of b.
func (f field) bytes(b []byte) []byte {
	v, _ := protowire.ConsumeBytes(b[f.val:f.end])
	return v
}

// eachField calls fn with every top-level field of the encoded message b,
// in order, until fn returns false; it reports whether b was read to its
// end (false for malformed input, or when fn stopped).
func eachField(b []byte, fn func(field) bool) bool {
	for at := 0; at < len(b); {
		num, typ, n := protowire.ConsumeTag(b[at:])
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[at+n:])
		if m < 0 {
			return false
		}
		if !fn(field{num: num, typ: typ, at: at, val: at + n, end: at + n + m}) {
			return false
		}
		at += n + m
	}
	return true
}
