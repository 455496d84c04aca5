package file

import (
	"bytes"
	"slices"
	"sort"
	"strings"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// slot is one document of a file: what it decoded to, the separator
// after it ("" after the last) and where it starts.
type slot struct {
	e   *docEntry
	sep string
	at  place // counted as fileState.place says
}

// place is where a document starts: its byte offset and line in the file,
// and the index of its first object in the file's raw list.
type place struct{ off, line, obj int }

// place returns where the document i starts. The slots before st.gap hold
// their places counted from the start of the file, the others counted
// from its end (bytes, line breaks and objects after them), so that an
// edit moves no slot after it, and an edit next to the previous one turns
// only the slots between the two.
func (st *fileState) place(i int) place {
	p := st.slots[i].at
	if i >= st.gap {
		p = place{off: len(st.data) - p.off, line: st.lines - p.line, obj: len(st.raw) - p.obj}
	}
	return p
}

// end is the offset of the byte after document i's text.
func (st *fileState) end(i int) int { return st.place(i).off + len(st.slots[i].e.text) }

// turn counts the places of the slots in [a, b) from the other end.
func (st *fileState) turn(a, b int) {
	for i := a; i < b; i++ {
		p := &st.slots[i].at
		p.off, p.line, p.obj = len(st.data)-p.off, st.lines-p.line, len(st.raw)-p.obj
	}
}

// edit is where a file's new bytes differ from its previous ones: the
// previous state's first k and last j documents (each with the separator
// that joins it to the edit) are the new bytes' start and end, and the
// new bytes between them, data[from:to], are split and looked up anew.
// The documents after the edit moved by shift lines and grow bytes.
type edit struct {
	k, j     int
	from, to int
	line     int // the line of data[from]
	shift    int
	grow     int
	// objFrom and objTo are the old raw objects of the edited documents.
	objFrom, objTo int
}

// findEdit compares data with old's bytes from the start and from the end
// (one comparison of bytes: no split, no hash) and finds the documents
// the bytes that differ are in. It returns false when data is old's bytes.
// A document counts as kept only where the split of data is sure to cut
// it the same way: its separator to the edit is a whole line that starts
// a line, and the edit holds at least one document of each version (k+j
// is less than old's documents, the two ends do not overlap in data). A
// kept document after the edit that has diagnostics stays only when no
// line moved, as diagnostics name their line.
func findEdit(old *fileState, data []byte) (edit, bool) {
	ed := edit{to: len(data), line: 1}
	if old == nil {
		return ed, true
	}
	pre := commonPrefix(old.data, data)
	if pre == len(data) && pre == len(old.data) {
		return ed, false
	}
	n := len(old.slots)
	k := sort.Search(n, func(i int) bool { return old.place(i).off > pre }) - 1
	for k > 0 && !wholeLine(old.slots[k-1].sep) {
		k--
	}
	start := old.place(k)
	ed.k, ed.from, ed.line = k, start.off, start.line
	ed.grow = len(data) - len(old.data)
	bound := max(len(old.data)-commonSuffix(old.data, data), ed.from-ed.grow)
	i := k + 1 + sort.Search(n-k-1, func(x int) bool { return old.end(k+x) >= bound })
	for i < n && !ed.cuts(old, i, data) {
		i++
	}
	if ed.keepEnd(old, i); ed.j > 0 {
		first := old.place(n - ed.j) // the first document kept at the end
		moved := ed.line + lineBreaks(data[ed.from:ed.to]) + strings.Count(old.slots[n-ed.j-1].sep, "\n")
		if ed.shift = moved - first.line; ed.shift != 0 && old.diags > 0 {
			ed.keepClean(old)
		}
	}
	ed.objFrom, ed.objTo = start.obj, len(old.raw)
	if ed.j > 0 {
		ed.objTo = old.place(n - ed.j).obj
	}
	return ed, true
}

// cuts reports whether the split of data cuts old's document i and the
// separator before it as old's: the separator is a whole line, at the
// start of a line of data.
func (ed *edit) cuts(old *fileState, i int, data []byte) bool {
	q := old.end(i-1) + ed.grow
	return wholeLine(old.slots[i-1].sep) && (q == 0 || data[q-1] == '\n')
}

// keepEnd keeps old's documents from i on.
func (ed *edit) keepEnd(old *fileState, i int) {
	n := len(old.slots)
	ed.j, ed.to = n-i, len(old.data)+ed.grow
	if i < n {
		ed.to = old.end(i-1) + ed.grow
	}
}

// keepClean drops from the documents kept at the end those up to the last
// one with diagnostics, which the edit then decodes again at its new line.
func (ed *edit) keepClean(old *fileState) {
	n := len(old.slots)
	i := n - ed.j
	for x := i; x < n; x++ {
		if old.slots[x].e.hasDiagnostics() {
			i = x + 1
		}
	}
	if ed.keepEnd(old, i); ed.j == 0 {
		ed.shift = 0
	}
}

// commonPrefix is the length of the bytes a and b start with, compared a
// page at a time.
func commonPrefix(a, b []byte) int {
	n, i := min(len(a), len(b)), 0
	for i+4096 <= n && bytes.Equal(a[i:i+4096], b[i:i+4096]) {
		i += 4096
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix is the length of the bytes a and b end with.
func commonSuffix(a, b []byte) int {
	n, i := min(len(a), len(b)), 0
	for i+4096 <= n && bytes.Equal(a[len(a)-i-4096:len(a)-i], b[len(b)-i-4096:len(b)-i]) {
		i += 4096
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
}

func wholeLine(sep string) bool { return len(sep) > 0 && sep[len(sep)-1] == '\n' }

// separator returns b as a string, without allocating for the usual ones.
func separator(b []byte) string {
	for _, s := range [...]string{"---\n", "---\r\n", "...\n", "---"} {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// middle splits the new bytes of ed into documents and returns them and
// their slots, but for the entries and objects.
func middle(data []byte, ed edit, old *fileState) ([]resource.Document, []slot) {
	region := data[ed.from:ed.to]
	docs := resource.SplitDocuments(region)
	slots := make([]slot, len(docs))
	for i := range docs {
		docs[i].Line += ed.line - 1
		slots[i].at = place{off: ed.from + offset(region, docs[i].Data), line: docs[i].Line}
		if i+1 < len(docs) {
			end := offset(region, docs[i].Data) + len(docs[i].Data)
			slots[i].sep = separator(region[end:offset(region, docs[i+1].Data)])
		}
	}
	if ed.j > 0 {
		slots[len(slots)-1].sep = old.slots[len(old.slots)-ed.j-1].sep
	}
	return docs, slots
}

// offset is the index in region of part, a slice of region.
func offset(region, part []byte) int { return cap(region) - cap(part) }

// span is the part of a file's objects that an edit replaced, for the
// Set's splice: the previous objects (a copy) and the new ones. ok is false
// when the edit made the file's lists anew; the splice then compares the
// whole lists.
type span struct {
	before, after []resource.Object
	at            int // the index of after in the file's objects
	ok            bool
	// gone is the entries of the documents the edit removed, released
	// once every changed file is loaded (a document moved to another file
	// keeps its entry).
	gone []*docEntry
}

// replace makes st.raw: old's with the objects of the edited documents
// replaced by objs and those after them moved by ed.shift lines. It edits
// old's list in place when both states' objects are their raw lists
// (nothing reads old's objects afterwards: the span holds a copy of the
// replaced part); otherwise old's objects are kept for keepLastGood and
// the splice, and the list is made anew.
func (st *fileState) replace(old *fileState, ed edit, objs []resource.Object) span {
	if old == nil {
		st.raw = objs
		return span{}
	}
	from, to := ed.objFrom, ed.objTo
	end, oldEnd := from+len(objs), to // where the changed objects end
	if ed.shift != 0 {
		end, oldEnd = from+len(objs)+len(old.raw)-to, len(old.raw)
	}
	if !old.plain || !st.plain {
		st.raw = slices.Concat(old.raw[:from], objs, old.raw[to:])
		shiftLines(st.raw[from+len(objs):], ed.shift)
		return span{}
	}
	before := slices.Clone(old.raw[from:oldEnd])
	st.raw = slices.Replace(old.raw, from, to, objs...)
	shiftLines(st.raw[from+len(objs):], ed.shift)
	return span{before: before, after: st.raw[from:end], at: from, ok: true}
}

func shiftLines(objs []resource.Object, by int) {
	if by == 0 {
		return
	}
	for i := range objs {
		objs[i].Source.Line += by
	}
}

// spliceSlots makes st's slots: old's with the edited documents' replaced
// by news, in place. The slots before the edit count their places from the
// start, those after it from the end (turned from the previous edit's
// gap), and the new ones from the start, so that none after the edit
// changes.
func (st *fileState) spliceSlots(old *fileState, ed edit, news []slot) {
	if old == nil {
		st.slots, st.gap = news, len(news)
		return
	}
	n := len(old.slots)
	old.turn(old.gap, ed.k)
	old.turn(n-ed.j, old.gap)
	st.slots = slices.Replace(old.slots, ed.k, n-ed.j, news...)
	st.gap = ed.k + len(news)
}

func lineBreaks(b []byte) int { return bytes.Count(b, []byte("\n")) }
