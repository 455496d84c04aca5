package file

import (
	"bytes"
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// slot is one document of a file: what it decoded to, the separator
// after it ("" after the last), the line it starts on and the index of its
// first object in the file's raw list.
type slot struct {
	e    *docEntry
	sep  string
	line int
	obj  int
}

// edit is where a file's new bytes differ from its previous documents:
// the previous state's first k and last j documents (each with the
// separator that joins it to the edit) are the new bytes' start and end,
// and the new bytes between them, data[from:to], are split and looked up
// anew. The documents after the edit moved by shift lines.
type edit struct {
	k, j     int
	from, to int
	line     int // the line of data[from]
	shift    int
	// objFrom and objTo are the old raw objects of the edited documents.
	objFrom, objTo int
}

// findEdit compares data with old's documents and separators from the
// start and from the end (a comparison of bytes: no split, no hash). A
// document counts as kept only where the split of data is sure to cut it
// the same way: its separator to the edit is a whole line, and the edit
// holds at least one document of each file (k+j < the number of old
// documents, the bytes of the two ends do not overlap). A kept document
// after the edit that has diagnostics stays only when no line moved, as
// diagnostics name their line.
func findEdit(old *fileState, data []byte) edit {
	ed := edit{to: len(data), line: 1}
	if old == nil {
		return ed
	}
	n := len(old.slots)
	for ed.k < n-1 {
		s := old.slots[ed.k]
		if !wholeLine(s.sep) || !at(data, ed.from, s.e.text, s.sep) {
			break
		}
		ed.from += len(s.e.text) + len(s.sep)
		ed.k++
	}
	ed.line = old.slots[ed.k].line
	for ed.j < n-1-ed.k {
		i := n - 1 - ed.j
		text, sep := old.slots[i].e.text, old.slots[i-1].sep
		q := ed.to - len(text) - len(sep)
		if q < ed.from || !wholeLine(sep) || q > 0 && data[q-1] != '\n' || !at(data, q, sep, text) {
			break
		}
		ed.to = q
		ed.j++
	}
	if ed.j > 0 {
		first := n - ed.j // the first document kept at the end
		moved := ed.line + bytes.Count(data[ed.from:ed.to], []byte("\n")) + countLines(old.slots[first-1].sep)
		if ed.shift = moved - old.slots[first].line; ed.shift != 0 && old.diags > 0 {
			ed.keepClean(old)
		}
	}
	ed.objFrom, ed.objTo = old.slots[ed.k].obj, len(old.raw)
	if ed.j > 0 {
		ed.objTo = old.slots[n-ed.j].obj
	}
	return ed
}

// keepClean drops from the documents kept at the end those up to the last
// one with diagnostics, which the edit then decodes again at its new line.
func (ed *edit) keepClean(old *fileState) {
	n := len(old.slots)
	last := -1
	for i := n - ed.j; i < n; i++ {
		if old.slots[i].e.hasDiagnostics() {
			last = i
		}
	}
	for i := n - ed.j; i <= last; i++ {
		ed.to += len(old.slots[i-1].sep) + len(old.slots[i].e.text)
		ed.j--
	}
	if ed.j == 0 {
		ed.shift = 0
	}
}

// at reports whether data holds a and then b at i.
func at(data []byte, i int, a, b string) bool {
	return len(data)-i >= len(a)+len(b) && string(data[i:i+len(a)]) == a && string(data[i+len(a):i+len(a)+len(b)]) == b
}

func wholeLine(sep string) bool { return len(sep) > 0 && sep[len(sep)-1] == '\n' }

func countLines(s string) int { return bytes.Count([]byte(s), []byte("\n")) }

// separator returns b as a string, without allocating for the usual ones.
func separator(b []byte) string {
	for _, s := range [...]string{"---\n", "---\r\n", "...\n", "---"} {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// middle splits the new bytes of ed into documents, with their file lines
// and the separators after them.
func middle(data []byte, ed edit, old *fileState) ([]resource.Document, []string) {
	region := data[ed.from:ed.to]
	docs := resource.SplitDocuments(region)
	seps := make([]string, len(docs))
	for i := range docs {
		docs[i].Line += ed.line - 1
		if i+1 < len(docs) {
			end := offset(region, docs[i].Data) + len(docs[i].Data)
			seps[i] = separator(region[end:offset(region, docs[i+1].Data)])
		}
	}
	if ed.j > 0 {
		seps[len(seps)-1] = old.slots[len(old.slots)-ed.j-1].sep
	}
	return docs, seps
}

// offset is the index in region of part, a slice of region.
func offset(region, part []byte) int { return cap(region) - cap(part) }

// span is the part of a file's objects that an edit replaced, for the
// Set's splice: the previous objects (a copy) and the new ones. ok is false
// when the edit made the file's lists anew; the splice then compares the
// whole lists.
type span struct {
	before, after []resource.Object
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
	return span{before: before, after: st.raw[from:end], ok: true}
}

func shiftLines(objs []resource.Object, by int) {
	if by == 0 {
		return
	}
	for i := range objs {
		objs[i].Source.Line += by
	}
}

// spliceSlots returns old's slots with the edited documents' replaced by
// news, in place, and the slots after them moved by the edit's lines and
// by the difference in the number of objects (nobjs new ones).
func spliceSlots(old *fileState, ed edit, news []slot, nobjs int) []slot {
	if old == nil {
		return news
	}
	slots := slices.Replace(old.slots, ed.k, len(old.slots)-ed.j, news...)
	if d := nobjs - (ed.objTo - ed.objFrom); d != 0 || ed.shift != 0 {
		for i := ed.k + len(news); i < len(slots); i++ {
			slots[i].line += ed.shift
			slots[i].obj += d
		}
	}
	return slots
}
