package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/internal/plist"
)

// A route configuration's bytes are not copied into one slice per
// version: they are a short list of parts, the bytes before the virtual
// hosts, runs of consecutive virtual host records, and the bytes after
// them. A run is made once and shared by every version that holds the
// same virtual hosts at a run's place, so a change of one route copies
// the run around it (a few dozen virtual hosts) and refers to the others.
//
// Where a run ends depends only on the bytes of its virtual hosts (content
// defined): after a virtual host whose digest meets runBoundary, or once
// the run holds maxRunBytes. Inserting or removing a virtual host then
// changes the run around it and leaves the boundaries of the others where
// they were, so the next version finds them. Since runs are a function of
// the bytes, so is the hash built from them: the hash of a route
// configuration is SHA-256 over the bytes before the virtual hosts, each
// run's digest (SHA-256 over its virtual hosts' digests) and the bytes
// after them, which hashWhole finds again from a whole marshal.

const (
	// runMean is how many virtual hosts a run holds on average: at
	// 30,000 virtual hosts a version's part list is about 470 entries
	// (11 KB) and a change copies one run (about 15 KB).
	runMean = 64
	// maxRunBytes ends a run of large virtual hosts early, so a change
	// copies at most about this much besides the changed virtual host.
	maxRunBytes = 256 << 10
)

// run is the records (tag, length, bytes) of consecutive virtual hosts of
// route configurations. Immutable once made.
type run struct {
	vhs   []*routev3.VirtualHost
	hosts []*piece // the pieces of vhs
	bytes []byte
	sum   [digestLen]byte
	// closed: the run ended by the boundary rule, not at the end of the
	// list, so it is also a run of any list that holds its virtual hosts
	// from a run's start.
	closed bool
}

// runEnds reports whether a run ends after a virtual host of digest sum,
// the run's records taking size bytes so far.
func runEnds(sum []byte, size int) bool {
	return binary.LittleEndian.Uint16(sum[digestLen-2:digestLen])%runMean == 0 || size >= maxRunBytes
}

// recordSize is the size of a record of field holding n bytes.
func recordSize(field protowire.Number, n int) int {
	return protowire.SizeTag(field) + protowire.SizeBytes(n)
}

// runsOf returns the runs of vhs, a route configuration's virtual hosts,
// taking prev's (a recent route configuration of its name; nil for none)
// where vhs holds the same virtual hosts from a run's start, and making
// the others.
func (ps *pieces) runsOf(vhs plist.List[*routev3.VirtualHost], prev *spliced) ([]*run, error) {
	f := finder{}
	if prev != nil {
		f.runs = prev.runs
	}
	out := make([]*run, 0, max(len(f.runs)+2, vhs.Len()/runMean+1))
	for at := newCursor(vhs); !at.done(); {
		r := f.find(at)
		if r == nil {
			var err error
			if r, err = ps.newRun(at); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
		at.skip(len(r.vhs))
	}
	return out, nil
}

// finder finds the runs of a previous version in a new list of virtual
// hosts, in order: the next few runs after the last one taken, then any.
type finder struct {
	runs []*run
	next int
}

// lookahead is how many runs after the last one taken are tried first.
const lookahead = 4

// find returns the run of f that holds the virtual hosts from at on and
// is a run there, or nil.
func (f *finder) find(at cursor[*routev3.VirtualHost]) *run {
	first := at.peek()
	for k := f.next; k < min(f.next+lookahead, len(f.runs)); k++ {
		if f.runs[k].vhs[0] == first {
			return f.take(k, at)
		}
	}
	for k, r := range f.runs {
		if r.vhs[0] == first {
			return f.take(k, at)
		}
	}
	return nil
}

// take returns run k when the list holds its virtual hosts from at on and
// it is a run there: it ended by the boundary rule, or ends where the list
// does.
func (f *finder) take(k int, at cursor[*routev3.VirtualHost]) *run {
	r := f.runs[k]
	if held, atEnd := at.holds(r.vhs); !held || (!r.closed && !atEnd) {
		return nil
	}
	f.next = k + 1
	return r
}

// newRun makes the run that starts at at.
func (ps *pieces) newRun(at cursor[*routev3.VirtualHost]) (*run, error) {
	r := &run{}
	size := 0
	for ; !at.done(); at.next() {
		vh := at.peek()
		p, err := ps.host(vh)
		if err != nil {
			return nil, err
		}
		r.vhs = append(r.vhs, vh)
		r.hosts = append(r.hosts, p)
		size += recordSize(virtualHostsField, len(p.bytes))
		if runEnds(p.sum[:], size) {
			r.closed = true
			break
		}
	}
	r.vhs = slices.Clip(r.vhs)
	r.hosts = slices.Clip(r.hosts)
	r.bytes = make([]byte, 0, size)
	h := sha256.New()
	for _, p := range r.hosts {
		r.bytes = protowire.AppendTag(r.bytes, virtualHostsField, protowire.BytesType)
		r.bytes = protowire.AppendBytes(r.bytes, p.bytes)
		h.Write(p.sum[:])
	}
	r.sum = runSum(h)
	return r, nil
}

// runSum is the digest of a run, h having hashed its virtual hosts'
// digests.
func runSum(h hash.Hash) [digestLen]byte {
	var full [sha256.Size]byte
	var out [digestLen]byte
	copy(out[:], h.Sum(full[:0]))
	return out
}

// spliceRuns returns the parts of the deterministic marshal of a route
// configuration whose fields but the virtual hosts are shell and whose
// virtual hosts are runs, and its hash.
func spliceRuns(shell *routev3.RouteConfiguration, runs []*run) ([][]byte, [sha256.Size]byte, error) {
	sb, err := deterministic.Marshal(shell)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	split, err := splitAt(sb, virtualHostsField)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	head, tail := sb[:split:split], sb[split:]
	parts := make([][]byte, 0, len(runs)+2)
	if len(head) > 0 {
		parts = append(parts, head)
	}
	for _, r := range runs {
		parts = append(parts, r.bytes)
	}
	if len(tail) > 0 {
		parts = append(parts, tail)
	}
	return parts, partsHash(head, len(runs), func(i int) []byte { return runs[i].sum[:] }, tail), nil
}

// wholeRuns returns the digests of the runs of vhs, the values of a
// route configuration's virtual host records, given their digests.
func wholeRuns(vhs [][]byte, sums [][digestLen]byte) [][digestLen]byte {
	var out [][digestLen]byte
	h := sha256.New()
	size := 0
	for i, vh := range vhs {
		h.Write(sums[i][:])
		size += recordSize(virtualHostsField, len(vh))
		if runEnds(sums[i][:], size) || i == len(vhs)-1 {
			out = append(out, runSum(h))
			h.Reset()
			size = 0
		}
	}
	return out
}
