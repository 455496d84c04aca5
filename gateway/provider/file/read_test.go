package file

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gantryproxy/gantry/gateway/resource"
)

func TestReadAllReadsToTheEnd(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 10_000)
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{name: "the file grew past the buffer", buf: make([]byte, 0, 10)},
		{name: "no buffer", buf: nil},
		{name: "the file shrank", buf: make([]byte, 0, 1<<20)},
	} {
		got, err := readAll(iotest.HalfReader(bytes.NewReader(content)), tc.buf)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: %d bytes, error %v; want %d bytes", tc.name, len(got), err, len(content))
		}
	}
	boom := errors.New("boom")
	if _, err := readAll(iotest.ErrReader(boom), nil); !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
}

func TestSparesFitTheFile(t *testing.T) {
	var s spares
	s.put(make([]byte, 10, 1000))
	s.put(make([]byte, 0, 100_000))
	if b := s.take(10_000); b != nil {
		t.Errorf("a file of 10,000 bytes took a spare of %d (too small or too big)", cap(b))
	}
	if b := s.take(900); cap(b) != 1000 || len(b) != 0 {
		t.Errorf("took len %d cap %d, want the spare of 1000, empty", len(b), cap(b))
	}
	if b := s.take(60_000); cap(b) != 100_000 {
		t.Errorf("took cap %d, want 100,000", cap(b))
	}
	for _, c := range []int{1000, 2000, 4000, 8000, 7000} {
		s.put(make([]byte, 0, c))
	}
	var caps []int
	for _, b := range s {
		caps = append(caps, cap(b))
	}
	if want := []int{1000, 2000, 4000, 7000}; !reflect.DeepEqual(caps, want) {
		t.Errorf("spares %v, want %v (at most %d, the closest in size replaced)", caps, want, maxSpares)
	}
}

// TestOneChangeAllocatesByTheChange checks that an endpoint change in a
// file of Services and EndpointSlices allocates about as many bytes in a
// file of 4,000 documents as in one of 400 (a tenth of the bytes): the
// read reuses the file's previous bytes, and nothing else per change
// follows the file's size. Reading the file anew would add its 800 kB.
func TestOneChangeAllocatesByTheChange(t *testing.T) {
	const perDocument = 2 // bytes the larger file may cost per extra document
	oneFile := func(n int) changes {
		return changes{files: map[string]string{"services.yaml": string(servicesFile(0, n, nil))}, name: "services.yaml", version: endpointChanges(n)}
	}
	bytesDoNotFollow(t, "documents", perDocument, 400, 4000, oneFile(200), oneFile(2000))
}

// TestOneChangeAllocatesByTheChangeInManyFiles is
// TestOneChangeAllocatesByTheChange with each Service in a file of its
// own, 100 or 1,000 files: no walk of the folder, no list of the files.
func TestOneChangeAllocatesByTheChangeInManyFiles(t *testing.T) {
	const perFile = 2 // bytes the larger folder may cost per extra file
	manyFiles := func(n int) changes {
		files := map[string]string{}
		for s := range n {
			files[fmt.Sprintf("services-%d.yaml", s)] = string(servicesFile(s, s+1, nil))
		}
		second := map[int]string{}
		return changes{files: files, name: "services-7.yaml", version: func(i int) []byte {
			second[7] = fmt.Sprintf("10.200.7.%d", 3+(i+1)%250)
			return servicesFile(7, 8, second)
		}}
	}
	bytesDoNotFollow(t, "files", perFile, 100, 1000, manyFiles(100), manyFiles(1000))
}

// TestOneChangeAllocatesByTheChangeBesideWarnings is
// TestOneChangeAllocatesByTheChange beside a file of 100 or 1,000 objects
// of kinds Gantry does not read (a warning each): a change that makes and
// removes no diagnostic does not collect, format or log the others.
func TestOneChangeAllocatesByTheChangeBesideWarnings(t *testing.T) {
	const perWarning = 2 // bytes the larger folder may cost per extra warning
	withWarnings := func(n int) changes {
		return changes{files: map[string]string{"services.yaml": string(servicesFile(0, 200, nil)), "apps.yaml": deployments(n)},
			name: "services.yaml", version: endpointChanges(200)}
	}
	bytesDoNotFollow(t, "warnings", perWarning, 100, 1000, withWarnings(100), withWarnings(1000))
}

// bytesDoNotFollow fails unless one change of large, a world of n2 units
// (documents, files, warnings), allocates at most perUnit bytes more per
// extra unit than one of small, a world of n1.
func bytesDoNotFollow(t *testing.T, unit string, perUnit, n1, n2 int, small, large changes) {
	t.Helper()
	bs, bl := bytesPerChange(t, small), bytesPerChange(t, large)
	if budget := perUnit * (n2 - n1); bl-bs > budget {
		t.Errorf("one change allocates %d bytes among %d %s, %d among %d: more than %d apart", bl, n2, unit, bs, n1, budget)
	}
	t.Logf("bytes per change: %d (%d %s), %d (%d)", bs, n1, unit, bl, n2)
}

// deployments is a file of n Deployments, a kind Gantry warns it ignores.
func deployments(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d-%d, namespace: default}\n", i)
	}
	return sb.String()
}

// changes is a folder's files and the versions of one of them, name:
// version(i) at change i, each changing one object.
type changes struct {
	files   map[string]string
	name    string
	version func(i int) []byte
}

// bytesPerChange returns the mean bytes the provider allocates for one of
// c's changes, over 20 changes after 2 (the first change makes the read
// buffer that the later ones reuse).
func bytesPerChange(t *testing.T, c changes) int {
	s := newScanner(t, c.files)
	s.scan()
	const warm, changes = 2, 20
	var total uint64
	var ms runtime.MemStats
	for i := range warm + changes {
		s.write(c.name, string(c.version(i)))
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		ev, _ := s.scan(c.name)
		runtime.ReadMemStats(&ms)
		if i >= warm {
			total += ms.TotalAlloc - before
		}
		if len(ev.ChangedKeys) != 1 {
			t.Fatalf("change %d: changed %v, want one object", i, ev.ChangedKeys)
		}
	}
	return int(total / changes)
}

// TestKeptDocumentsSurviveBufferReuse edits the middle document of a file
// (to lengths that move the documents after it), and another file in turn,
// so that each read overwrites buffers that held earlier versions; the
// documents that never changed keep their objects, equal to a fresh parse,
// and the cache keeps their bytes.
func TestKeptDocumentsSurviveBufferReuse(t *testing.T) {
	head, tail := route("r0", "/0"), route("r2", "/2")
	version := func(i int) string {
		return docs(head, route("r1", strings.Repeat("/x", 1+i%5*40)), tail)
	}
	s := newScanner(t, map[string]string{"a.yaml": version(0), "b.yaml": route("b0", "/b")})
	ev, _ := s.scan()
	kept := pointers(ev.Set)
	fresh, _ := resource.Parse("fresh.yaml", []byte(docs(head, tail)))
	arrays := map[*byte]bool{}
	reused := false
	for i := 1; i <= 20; i++ {
		if i%3 == 0 {
			s.write("b.yaml", route("b0", strings.Repeat("/b", i)))
			ev, _ = s.scan("b.yaml")
		} else {
			s.write("a.yaml", version(i))
			ev, _ = s.scan("a.yaml")
		}
		s.checkFullLoad(ev)
		data := s.p.files[s.path("a.yaml")].data
		reused = reused || arrays[&data[:1][0]]
		arrays[&data[:1][0]] = true
		now := pointers(ev.Set)
		for _, o := range fresh.Objects {
			if now[o.Key] != kept[o.Key] || !reflect.DeepEqual(now[o.Key], o.Value) {
				t.Fatalf("step %d: %v is not the object first decoded, or differs from a fresh parse", i, o.Key)
			}
		}
		for _, d := range []string{head, tail} {
			if e := s.p.docs.m[d]; e == nil || e.text != d {
				t.Fatalf("step %d: the cache lost an unchanged document's bytes", i)
			}
		}
	}
	if !reused {
		t.Fatal("no read reused a buffer: the test tests nothing")
	}
}
