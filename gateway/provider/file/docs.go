package file

import (
	"reflect"
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// fileState is what the provider knows of one file.
type fileState struct {
	data  []byte // the bytes last read
	lines int    // the line breaks in data
	slots []slot // its documents, in order
	gap   int    // see place
	// raw is the documents' objects, in order; objects is what the file
	// yields: raw itself when plain, else raw without its duplicates and
	// with the last good state of the objects it no longer yields.
	raw     []resource.Object
	objects []resource.Object
	plain   bool
	errors  []resource.Diagnostic
	warns   []resource.Diagnostic
	diags   int // documents with diagnostics
	// keys counts the keys of the documents' objects, to find duplicates
	// within the file without a look at every object; the next state of
	// the file takes it over (and updates it by the documents that differ).
	keys    map[resource.Key]int
	dupKeys int // keys counted more than once
	// kinds counts the objects of each kind: the length of the file's
	// span in each of the Set's lists.
	kinds []kindCount
}

type kindCount struct {
	kind string
	n    int
}

// ofKind returns the number of the file's objects of kind.
func (st *fileState) ofKind(kind string) int {
	for _, c := range st.kinds {
		if c.kind == kind {
			return c.n
		}
	}
	return 0
}

// adjustKinds returns a copy of kinds with the objects before taken away
// and those of after added.
func adjustKinds(kinds []kindCount, before, after []resource.Object) []kindCount {
	out := slices.Clone(kinds)
	for _, c := range countKinds(before) {
		at := slices.IndexFunc(out, func(o kindCount) bool { return o.kind == c.kind })
		out[at].n -= c.n
	}
	for _, c := range countKinds(after) {
		if at := slices.IndexFunc(out, func(o kindCount) bool { return o.kind == c.kind }); at >= 0 {
			out[at].n += c.n
		} else {
			out = append(out, c)
		}
	}
	return slices.DeleteFunc(out, func(c kindCount) bool { return c.n == 0 })
}

// countKinds counts objs by kind, leaving out kinds no Set holds.
func countKinds(objs []resource.Object) []kindCount {
	var out []kindCount
	for i := 0; i < len(objs); {
		k, j := objs[i].Key.Kind, i+1
		for j < len(objs) && objs[j].Key.Kind == k {
			j++
		}
		if at := slices.IndexFunc(out, func(c kindCount) bool { return c.kind == k }); at >= 0 {
			out[at].n += j - i
		} else if _, ok := resource.KindOf(k); ok {
			out = append(out, kindCount{kind: k, n: j - i})
		}
		i = j
	}
	return out
}

// docEntry is what one document's bytes decoded to. The objects of a
// shared entry are reused wherever the same bytes appear again, whatever
// the file or line (their Sources are moved); its diagnostics name the
// place where it was decoded, so a document with diagnostics is reused only
// at that place and decoded again elsewhere (keeping the objects).
type docEntry struct {
	text   string // the bytes; the key in docCache.m when shared
	shared bool
	refs   int // documents of the current files that use a shared entry
	res    resource.DocumentResult
	file   string
	line   int
}

// docCache holds the decoded documents of the current files by their bytes.
type docCache struct {
	m map[string]*docEntry
}

// usableAt reports whether e's result holds as is for a document that
// starts at file:line.
func (e *docEntry) usableAt(file string, line int) bool {
	clean := len(e.res.Errors) == 0 && len(e.res.Warnings) == 0
	return clean || e.file == file && e.line == line
}

// objectsAt returns e's objects as read at file:line: the same values,
// with their Sources moved when the document moved.
func (e *docEntry) objectsAt(file string, line int) []resource.Object {
	if e.file == file && e.line == line {
		return e.res.Objects
	}
	out := make([]resource.Object, len(e.res.Objects))
	for i, o := range e.res.Objects {
		o.Source = resource.Source{File: file, Line: o.Source.Line - e.line + line}
		out[i] = o
	}
	return out
}

// hasDiagnostics reports whether e's document has errors or warnings.
func (e *docEntry) hasDiagnostics() bool {
	return len(e.res.Errors) > 0 || len(e.res.Warnings) > 0
}

// refresh reads file and returns its new state and the part of its
// objects that changed, or nil when its bytes did not change or it cannot
// be read (what was known of it is kept; a deleted file is dropped by
// update). When the new content has errors, objects that no longer decode
// keep their last good state. The new state keeps the read buffer, and
// the old state's bytes become a spare for a later read (see read.go).
func (p *Provider) refresh(file string, old *fileState) (*fileState, span) {
	data, err := p.read(file)
	if err != nil {
		p.log.Warn("file provider: cannot read file", "path", file, "error", err)
		return nil, span{}
	}
	st, sp := p.docs.load(file, data, old)
	if st == nil {
		p.spares.put(data) // old's bytes again
		return nil, span{}
	}
	if old != nil {
		p.spares.put(old.data)
	}
	return st, sp
}

// load makes file's next state from data, as resource.Parse would read
// it, at the cost of the edit: the documents of old that data starts and
// ends with are kept as they are (findEdit), and only the bytes between
// them are split, looked up and decoded. old's lists become the new
// state's, edited in place (old is not read afterwards, but for its
// objects when the new state needs them: see replace). It returns nil
// when data is old's bytes.
func (c *docCache) load(file string, data []byte, old *fileState) (*fileState, span) {
	ed, changed := findEdit(old, data)
	if !changed {
		return nil, span{}
	}
	docs, news := middle(data, ed, old)
	var gone []slot // old's documents that the edit replaces
	var near []resource.Object
	if old != nil {
		gone = old.slots[ed.k : len(old.slots)-ed.j]
		near = old.raw[ed.objFrom:ed.objTo]
	}
	entries := c.entries(file, docs, ed, old, near)
	n := 0
	for _, e := range entries {
		n += len(e.res.Objects)
	}
	objs := make([]resource.Object, 0, n)
	for i, d := range docs {
		news[i].e, news[i].at.obj = entries[i], ed.objFrom+len(objs)
		objs = append(objs, entries[i].objectsAt(file, d.Line)...)
	}
	st := &fileState{data: data}
	if old == nil {
		st.lines = lineBreaks(data)
	} else {
		st.lines = old.lines + lineBreaks(data[ed.from:ed.to]) - lineBreaks(old.data[ed.from:ed.to-ed.grow])
	}
	st.account(old, gone, news)
	released := make([]*docEntry, len(gone))
	for i, s := range gone {
		released[i] = s.e
	}
	st.spliceSlots(old, ed, news)
	st.diagnostics()
	st.plain = len(st.errors) == 0 && st.dupKeys == 0
	sp := st.replace(old, ed, objs)
	sp.gone = released
	st.finish(old, sp)
	return st, sp
}

// entries returns the entries of the edit's documents docs: those the
// cache holds, and the others decoded.
func (c *docCache) entries(file string, docs []resource.Document, ed edit, old *fileState, near []resource.Object) []*docEntry {
	total := ed.k + len(docs) + ed.j
	out := make([]*docEntry, len(docs))
	var todo []int
	for i, d := range docs {
		if e := c.lookup(d, ed.k+i, total, old, file); e != nil {
			out[i] = e
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		c.decode(file, docs, todo, out, &lastValues{old: old, near: near, many: len(todo) > 8})
	}
	return out
}

// lookup returns the entry for d, document i of n of file, when one
// holds: the old file's document at the same place counted from the start
// or from the end, whose bytes are compared without hashing them, or the
// one the cache holds for its bytes.
func (c *docCache) lookup(d resource.Document, i, n int, old *fileState, file string) *docEntry {
	if old != nil {
		for _, j := range [2]int{i, len(old.slots) - n + i} {
			if j >= 0 && j < len(old.slots) && old.slots[j].e.text == string(d.Data) && old.slots[j].e.usableAt(file, d.Line) {
				return old.slots[j].e
			}
		}
	}
	if e := c.m[string(d.Data)]; e != nil && e.usableAt(file, d.Line) {
		return e
	}
	return nil
}

// decode decodes the documents todo of docs (on every CPU when many) into
// out. A decoded object equal to the file's previous object of the same
// key is replaced by that object, so that an edit that changes no object
// (a comment, the layout) keeps the pointers.
func (c *docCache) decode(file string, docs []resource.Document, todo []int, out []*docEntry, last *lastValues) {
	batch := make([]resource.Document, len(todo))
	for j, i := range todo {
		batch[j] = docs[i]
	}
	results := resource.ParseDocuments(file, batch)
	for j, i := range todo {
		d := docs[i]
		if known := c.m[string(d.Data)]; known != nil && known.usableAt(file, d.Line) {
			out[i] = known // the same bytes twice in this file
			continue
		}
		e := &docEntry{text: string(d.Data), res: results[j], file: file, line: d.Line}
		if known := c.m[e.text]; known != nil {
			// The same bytes elsewhere, with diagnostics of their own
			// place: these diagnostics, the known objects.
			e.res.Objects = known.objectsAt(file, d.Line)
			out[i] = e
			continue
		}
		for k, o := range e.res.Objects {
			if info, ok := resource.KindOf(o.Key.Kind); ok {
				e.res.Objects[k].Key.Kind = info.Kind // one string: comparisons of kinds compare pointers
			}
			if v, ok := last.find(o.Key); ok && reflect.DeepEqual(v, o.Value) {
				e.res.Objects[k].Value = v
			}
		}
		e.shared = true
		c.m[e.text] = e
		out[i] = e
	}
}

// lastValues finds the value of a key in a file's previous objects.
type lastValues struct {
	old *fileState
	// near is the previous objects of the edited documents, where an
	// edited object was; when old is plain, its keys say whether it is
	// anywhere else.
	near          []resource.Object
	many          bool // many look-ups to come: index the objects
	nearIx, allIx map[resource.Key]any
}

func (l *lastValues) find(k resource.Key) (any, bool) {
	if l.old == nil {
		return nil, false
	}
	if l.old.plain {
		if v, ok := l.in(&l.nearIx, l.near, k); ok || l.old.keys[k] == 0 {
			return v, ok
		}
	}
	return l.in(&l.allIx, l.old.objects, k)
}

// in returns the value of the object of objs with key k (objs holds one
// of each key at most).
func (l *lastValues) in(index *map[resource.Key]any, objs []resource.Object, k resource.Key) (any, bool) {
	if l.many && *index == nil {
		*index = make(map[resource.Key]any, len(objs))
		for _, o := range objs {
			(*index)[o.Key] = o.Value
		}
	}
	if *index != nil {
		v, ok := (*index)[k]
		return v, ok
	}
	for _, o := range objs {
		if o.Key.Name == k.Name && o.Key == k { // names differ soonest
			return o.Value, true
		}
	}
	return nil, false
}

// account takes old's counts of keys and of documents with diagnostics
// over and updates them, and the cache's references, by the documents the
// edit removed (gone) and added (news).
func (st *fileState) account(old *fileState, gone, news []slot) {
	if old != nil {
		st.keys, st.dupKeys, st.diags, old.keys = old.keys, old.dupKeys, old.diags, nil
	} else {
		st.keys = map[resource.Key]int{}
	}
	st.count(gone, -1)
	st.count(news, 1)
	for _, s := range news {
		if s.e.shared {
			s.e.refs++
		}
	}
}

func (st *fileState) count(slots []slot, by int) {
	for _, s := range slots {
		if s.e.hasDiagnostics() {
			st.diags += by
		}
		for _, o := range s.e.res.Objects {
			n := st.keys[o.Key] + by
			switch {
			case by > 0 && n == 2:
				st.dupKeys++
			case by < 0 && n == 1:
				st.dupKeys--
			}
			if n == 0 {
				delete(st.keys, o.Key)
			} else {
				st.keys[o.Key] = n
			}
		}
	}
}

// diagnostics collects the documents' diagnostics, in order.
func (st *fileState) diagnostics() {
	if st.diags == 0 {
		return
	}
	for _, s := range st.slots {
		st.errors = append(st.errors, s.e.res.Errors...)
		st.warns = append(st.warns, s.e.res.Warnings...)
	}
}

// finish sets st.objects and st.kinds from st.raw: without the duplicates
// (reported) and with the last good state of old's objects that no longer
// decode when the file has errors.
func (st *fileState) finish(old *fileState, sp span) {
	st.objects = st.raw
	if !st.plain {
		if st.dupKeys > 0 {
			var dups []resource.Diagnostic
			st.objects, dups = dedupe(st.raw)
			st.errors = append(st.errors, dups...)
		}
		if len(st.errors) > 0 && old != nil {
			st.objects = keepLastGood(st.objects, old.objects)
		}
	}
	if sp.ok {
		st.kinds = adjustKinds(old.kinds, sp.before, sp.after)
	} else {
		st.kinds = countKinds(st.objects)
	}
}

// release forgets e when no current file uses it any more.
func (c *docCache) release(e *docEntry) {
	if e.shared {
		if e.refs--; e.refs == 0 {
			delete(c.m, e.text)
		}
	}
}

// dedupe keeps the first object of every key, reporting the others, as
// resource.Parse does within one file.
func dedupe(objs []resource.Object) ([]resource.Object, []resource.Diagnostic) {
	first := make(map[resource.Key]resource.Source, len(objs))
	var dups []resource.Diagnostic
	kept := objs[:0:0]
	for _, o := range objs {
		if src, seen := first[o.Key]; seen {
			dups = append(dups, resource.DuplicateDiagnostic(o, src))
			continue
		}
		first[o.Key] = o.Source
		kept = append(kept, o)
	}
	if len(dups) == 0 {
		return objs, nil
	}
	return kept, dups
}

// keepLastGood returns fresh plus every old object whose key fresh lacks.
func keepLastGood(fresh, old []resource.Object) []resource.Object {
	have := make(map[resource.Key]bool, len(fresh))
	for _, o := range fresh {
		have[o.Key] = true
	}
	out := append([]resource.Object(nil), fresh...)
	for _, o := range old {
		if !have[o.Key] {
			out = append(out, o)
		}
	}
	return out
}
