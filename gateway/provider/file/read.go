package file

import (
	"fmt"
	"io"
	"os"
	"slices"
)

// Reading a changed file makes no garbage in the steady state: the file is
// read into a spare buffer, the bytes of a file's previous version that no
// state holds any more (refresh gives them back once the file's new state
// is made). Nothing else keeps a reference to a file's bytes: the document
// cache keeps copies of the changed documents only (docEntry.text), and
// the decoded objects are made of new values. A buffer is made only when
// no spare fits the file, with room for the file to grow by an eighth.

// maxSpares is how many spare buffers the provider keeps: enough for a
// few files of different sizes changed in turn (one file of every Service,
// files of routes).
const maxSpares = 4

// readSlack is what a read buffer holds beyond the file's size and its
// eighth, and the most a spare may hold beyond twice the size it is taken
// for.
const readSlack = 4096

// spares are read buffers no state holds, most recently given back last.
type spares [][]byte

// take returns the smallest spare that holds n bytes and not much more
// than twice n (so that a small file does not keep a big buffer), emptied,
// or nil when none does.
func (s *spares) take(n int) []byte {
	best := -1
	for i, b := range *s {
		if c := cap(b); c >= n && c <= 2*n+readSlack && (best < 0 || c < cap((*s)[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := (*s)[best]
	*s = slices.Delete(*s, best, best+1)
	return b[:0]
}

// put gives b back, once nothing references its bytes. When maxSpares are
// kept already, the spare closest to b in size is dropped: b replaces it.
func (s *spares) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	if len(*s) == maxSpares {
		closest := 0
		for i := range *s {
			if sizeGap(cap((*s)[i]), cap(b)) < sizeGap(cap((*s)[closest]), cap(b)) {
				closest = i
			}
		}
		*s = slices.Delete(*s, closest, closest+1)
	}
	*s = append(*s, b[:0])
}

func sizeGap(a, b int) int { return max(a-b, b-a) }

// read returns file's bytes, read into a spare buffer that holds the size
// Stat gives (or a new one), up to the end of the file should it have
// grown since. The caller gives the buffer back (p.spares.put) once
// nothing references it.
func (p *Provider) read(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil {
		size = int(st.Size())
	}
	buf := p.spares.take(size + 1) // one byte more: the read that finds the end needs no room made
	if buf == nil {
		buf = make([]byte, 0, size+size/8+readSlack)
	}
	data, err := readAll(f, buf)
	if err != nil {
		p.spares.put(data)
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return data, nil
}

// readAll appends r's bytes to buf up to the end and returns buf with
// them (also on an error, to be given back). A full buffer grows by an eighth of its bytes and readSlack (so
// that a file that grew since its size was taken costs one copy, not one
// per doubling of a small start).
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf)/8+readSlack)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}
