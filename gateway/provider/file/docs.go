package file

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"reflect"
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// fileState is what the provider knows of one file.
type fileState struct {
	sum     uint64      // seeded hash of the bytes last read
	docs    []*docEntry // its documents, in order
	objects []resource.Object
	errors  []resource.Diagnostic
	warns   []resource.Diagnostic
	// keys counts the keys of the documents' objects, to find duplicates
	// within the file without a look at every object; the next state of
	// the file takes it over (and updates it by the documents that differ).
	keys    map[resource.Key]int
	dupKeys int // keys counted more than once
	// kinds counts the objects of each kind, in order of first appearance:
	// the length of the file's span in each of the Set's lists.
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

// refresh reads file and returns its new state, or nil when its bytes did
// not change or it cannot be read (what was known of it is kept; a deleted
// file is dropped by update). When the new content has errors, objects
// that no longer decode keep their last good state.
func (p *Provider) refresh(file string, old *fileState) *fileState {
	data, err := p.read(file)
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

// read reads file into the provider's buffer, which the next read reuses:
// nothing keeps the bytes (the cache copies the documents it keeps).
func (p *Provider) read(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := bytes.NewBuffer(p.buf[:0])
	if _, err := b.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	p.buf = b.Bytes()
	return p.buf, nil
}

// load splits data into documents, decodes those the cache does not hold
// and assembles the file's objects and diagnostics, as resource.Parse does.
func (c *docCache) load(file string, data []byte, old *fileState) *fileState {
	docs := resource.SplitDocuments(data)
	st := &fileState{docs: make([]*docEntry, len(docs))}
	var todo []int
	n := 0
	for i, d := range docs {
		if e := c.lookup(d, i, len(docs), old, file); e != nil {
			st.docs[i] = e
			n += len(e.res.Objects)
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		c.decode(file, docs, todo, st, old)
		n += len(todo)
	}
	objs := make([]resource.Object, 0, n)
	for i, e := range st.docs {
		if e.shared {
			e.refs++
		}
		objs = append(objs, e.objectsAt(file, docs[i].Line)...)
		st.errors = append(st.errors, e.res.Errors...)
		st.warns = append(st.warns, e.res.Warnings...)
	}
	st.countKeys(old)
	if st.dupKeys > 0 {
		var dups []resource.Diagnostic
		objs, dups = dedupe(objs)
		st.errors = append(st.errors, dups...)
	}
	st.objects = objs
	if len(st.errors) > 0 && old != nil {
		st.objects = keepLastGood(objs, old.objects)
	}
	st.kinds = countKinds(st.objects)
	return st
}

// lookup returns the entry for d, document i of n of file, when one
// holds: the old file's document at the same place counted from the start
// or from the end, whose bytes are compared without hashing them (most
// documents of an edited file), or the one the cache holds for its bytes.
func (c *docCache) lookup(d resource.Document, i, n int, old *fileState, file string) *docEntry {
	if old != nil {
		for _, j := range [2]int{i, len(old.docs) - n + i} {
			if j >= 0 && j < len(old.docs) && old.docs[j].text == string(d.Data) && old.docs[j].usableAt(file, d.Line) {
				return old.docs[j]
			}
		}
	}
	if e := c.m[string(d.Data)]; e != nil && e.usableAt(file, d.Line) {
		return e
	}
	return nil
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
	var index map[resource.Key]any // for many documents, old's objects by key
	if old != nil && len(todo) > 8 {
		index = make(map[resource.Key]any, len(old.objects))
		for _, o := range old.objects {
			index[o.Key] = o.Value
		}
	}
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
		if old != nil {
			for k, o := range e.res.Objects {
				if v, ok := previous(old.objects, index, o.Key); ok && reflect.DeepEqual(v, o.Value) {
					e.res.Objects[k].Value = v
				}
			}
		}
		e.shared = true
		c.m[e.text] = e
		st.docs[i] = e
	}
}

// countKeys sets st.keys and st.dupKeys, taking old's over and counting
// only the documents between the ones both files start and end with.
func (st *fileState) countKeys(old *fileState) {
	if old == nil || old.keys == nil {
		st.keys = map[resource.Key]int{}
		st.count(st.docs, 1)
		return
	}
	st.keys, st.dupKeys, old.keys = old.keys, old.dupKeys, nil
	a, b := old.docs, st.docs
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	a, b = a[i:], b[i:]
	j := 0
	for j < len(a) && j < len(b) && a[len(a)-1-j] == b[len(b)-1-j] {
		j++
	}
	st.count(a[:len(a)-j], -1)
	st.count(b[:len(b)-j], 1)
}

func (st *fileState) count(docs []*docEntry, by int) {
	for _, e := range docs {
		for _, o := range e.res.Objects {
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

// previous returns the value of old's object with key k, if any.
func previous(old []resource.Object, index map[resource.Key]any, k resource.Key) (any, bool) {
	if index != nil {
		v, ok := index[k]
		return v, ok
	}
	for _, o := range old {
		if o.Key.Name == k.Name && o.Key == k { // names differ soonest
			return o.Value, true
		}
	}
	return nil, false
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
