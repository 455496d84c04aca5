package file

import (
	"hash/maphash"
	"os"
	"reflect"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// fileState is what the provider knows of one file.
type fileState struct {
	sum     uint64      // seeded hash of the bytes last read
	docs    []*docEntry // its documents, in order
	objects []resource.Object
	errors  []resource.Diagnostic
	warns   []resource.Diagnostic
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

// refresh reads file and returns its new state, or nil when its bytes did
// not change or it cannot be read (what was known of it is kept; a deleted
// file is dropped by update). When the new content has errors, objects
// that no longer decode keep their last good state.
func (p *Provider) refresh(file string, old *fileState) *fileState {
	data, err := os.ReadFile(file)
	if err != nil {
		p.log.Warn("file provider: cannot read file", "path", file, "error", err)
		return nil
	}
	sum := maphash.Bytes(p.seed, data)
	if old != nil && old.sum == sum {
		return nil
	}
	st := p.docs.load(file, data, old)
	st.sum = sum
	return st
}

// load splits data into documents, decodes those the cache does not hold
// and assembles the file's objects and diagnostics, as resource.Parse does.
func (c *docCache) load(file string, data []byte, old *fileState) *fileState {
	docs := resource.SplitDocuments(data)
	st := &fileState{docs: make([]*docEntry, len(docs))}
	var todo []int
	for i, d := range docs {
		if e := c.m[string(d.Data)]; e != nil && e.usableAt(file, d.Line) {
			st.docs[i] = e
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		c.decode(file, docs, todo, st, old)
	}
	var objs []resource.Object
	for i, e := range st.docs {
		if e.shared {
			e.refs++
		}
		objs = append(objs, e.objectsAt(file, docs[i].Line)...)
		st.errors = append(st.errors, e.res.Errors...)
		st.warns = append(st.warns, e.res.Warnings...)
	}
	objs, dups := dedupe(objs)
	st.errors = append(st.errors, dups...)
	st.objects = objs
	if len(st.errors) > 0 && old != nil {
		st.objects = keepLastGood(objs, old.objects)
	}
	return st
}

// decode decodes the documents todo of docs (on every CPU when many) into
// st.docs. A decoded object equal to the file's previous object of the same
// key is replaced by that object, so that an edit that changes no object
// (a comment, the layout) keeps the pointers.
func (c *docCache) decode(file string, docs []resource.Document, todo []int, st *fileState, old *fileState) {
	batch := make([]resource.Document, len(todo))
	for j, i := range todo {
		batch[j] = docs[i]
	}
	results := resource.ParseDocuments(file, batch)
	var before map[resource.Key]any
	for j, i := range todo {
		d := docs[i]
		if known := c.m[string(d.Data)]; known != nil && known.usableAt(file, d.Line) {
			st.docs[i] = known // the same bytes twice in this file
			continue
		}
		e := &docEntry{text: string(d.Data), res: results[j], file: file, line: d.Line}
		if known := c.m[e.text]; known != nil {
			// The same bytes elsewhere, with diagnostics of their own
			// place: these diagnostics, the known objects.
			e.res.Objects = known.objectsAt(file, d.Line)
			st.docs[i] = e
			continue
		}
		if old != nil && len(e.res.Objects) > 0 {
			if before == nil {
				before = valuesByKey(old.objects)
			}
			for k, o := range e.res.Objects {
				if v, ok := before[o.Key]; ok && reflect.DeepEqual(v, o.Value) {
					e.res.Objects[k].Value = v
				}
			}
		}
		e.shared = true
		c.m[e.text] = e
		st.docs[i] = e
	}
}

func valuesByKey(objs []resource.Object) map[resource.Key]any {
	m := make(map[resource.Key]any, len(objs))
	for _, o := range objs {
		m[o.Key] = o.Value
	}
	return m
}

// release forgets the documents of a file's previous state that no current
// file uses any more.
func (c *docCache) release(st *fileState) {
	for _, e := range st.docs {
		if !e.shared {
			continue
		}
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
