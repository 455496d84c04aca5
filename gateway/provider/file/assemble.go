package file

import (
	"cmp"
	"maps"
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// fileChange is one file whose state changed: added (old nil), removed
// (new nil) or read again with other bytes, and the part of its objects
// that the edit replaced, when load knows it.
type fileChange struct {
	old, new *fileState
	span     span
}

// assembly is the next Set and what changed since the previous one.
type assembly struct {
	set     *resource.Set
	changed []resource.Key
	dups    []resource.Diagnostic
}

// event assembles the next Set from the files, in file order, and compares
// it with the previous one. The Set is spliced from the previous one (see
// splice) unless this is the first or either Set has duplicates, which are
// rebuilt whole as resource.BuildSet does.
func (p *Provider) event(changes []fileChange, initial bool) (Event, bool) {
	ev := Event{Initial: initial}
	hadDups := len(p.dupDiags) > 0
	a := assembly{set: p.set, dups: p.dupDiags}
	switch {
	case !initial && p.set != nil && len(changes) == 0:
	case initial || p.set == nil || len(p.dupDiags) > 0 || !p.splice(changes, &a):
		a = p.rebuild()
	}
	ev.Set = a.set
	fresh := initial || hadDups || len(a.dups) > 0 || diagnosed(changes)
	if fresh {
		p.collectDiagnostics(a.dups)
	}
	ev.Errors, ev.Warnings = p.errors, p.warnings
	slices.SortFunc(a.changed, compareKeys)
	ev.ChangedKeys = a.changed
	for _, k := range a.changed {
		if !slices.Contains(ev.Changed, k.Kind) {
			ev.Changed = append(ev.Changed, k.Kind)
		}
	}
	slices.Sort(ev.Changed)
	setChanged := a.set != p.set
	p.set, p.dupDiags = a.set, a.dups
	diagsChanged := fresh && p.logDiagnostics(ev)
	return ev, initial || setChanged || diagsChanged
}

// diagnosed reports whether a changed file has diagnostics, or had.
func diagnosed(changes []fileChange) bool {
	for _, c := range changes {
		for _, st := range [2]*fileState{c.old, c.new} {
			if st != nil && len(st.errors)+len(st.warns) > 0 {
				return true
			}
		}
	}
	return false
}

// collectDiagnostics makes p.errors and p.warnings: every file's
// diagnostics, in file order, and dups. An event whose changed files have
// and had none, with no duplicates before or after it, keeps the lists of
// the last event (its diagnostics are those), so that a change does not
// cost every diagnostic of the other files.
func (p *Provider) collectDiagnostics(dups []resource.Diagnostic) {
	var errs, warns []resource.Diagnostic
	for _, st := range p.ordered {
		if st != nil {
			errs = append(errs, st.errors...)
			warns = append(warns, st.warns...)
		}
	}
	p.errors, p.warnings = slices.Clip(append(errs, dups...)), slices.Clip(warns)
}

func compareKeys(a, b resource.Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// rebuild assembles the Set from every file as resource.BuildSet does
// (duplicates left out and reported) and compares it with the previous
// one, object by object; an unchanged Set stays the previous pointer.
func (p *Provider) rebuild() assembly {
	p.rebuilds++
	p.setLayout(p.states())
	var objs []resource.Object
	for _, st := range p.ordered {
		if st != nil {
			objs = append(objs, st.objects...)
		}
	}
	set, kept, dups := resource.BuildSet(objs)
	a := assembly{set: set, dups: dups}
	before := map[resource.Key]any{}
	for _, o := range p.set.Objects() {
		before[o.Key] = o.Value
	}
	for _, o := range kept {
		if v, ok := before[o.Key]; !ok || v != o.Value {
			a.changed = append(a.changed, o.Key)
		}
		delete(before, o.Key)
	}
	for k := range before {
		a.changed = append(a.changed, k)
	}
	if p.set != nil && len(a.changed) == 0 && maps.Equal(p.set.Compact().Sources, set.Sources) {
		a.set = p.set
	}
	return a
}

// splice assembles the next Set from the previous one and the changed
// files at the cost of the change: only the objects where a changed file's
// old and new lists differ are compared; only the lists of the kinds whose
// objects or order changed are made again, each of the previous list's
// runs before and after the changed files (one copy of pointers each) and
// the changed files' objects between them (see lists); the other lists
// are shared with the previous Set; and the places of the objects added,
// removed or moved are kept apart from Sources (resource.Set.Moved). It
// returns false (and the caller rebuilds) when the change makes a
// duplicate.
func (p *Provider) splice(changes []fileChange, a *assembly) bool {
	var touched []string
	d := delta{was: map[resource.Key]resource.Object{}, now: map[resource.Key]resource.Object{}}
	for _, c := range changes {
		before, after := c.span.before, c.span.after
		if !c.span.ok {
			before, after = middles(objectsOf(c.old), objectsOf(c.new))
		}
		touched = touchedKinds(touched, before, after)
		if !d.add(before, after) {
			return false
		}
	}
	if !d.finish(p.set) {
		return false
	}
	a.changed = d.changed
	next := p.states()
	if len(touched) == 0 && d.moves == nil {
		p.setLayout(next)
		return true
	}
	lists, ok := p.lists(touched, next, edited(changes))
	if !ok {
		return false
	}
	set, err := p.set.Spliced(lists)
	if err != nil {
		return false
	}
	if d.moves != nil {
		set = set.Moved(d.moves)
	}
	a.set, a.dups = set, nil
	p.setLayout(next)
	return true
}

// delta is what changed between the changed files' old and new objects:
// the keys added, changed or removed, and the new places of the objects
// that moved, were added or were removed (a zero Source).
type delta struct {
	was, now map[resource.Key]resource.Object // the objects not paired by place
	changed  []resource.Key
	moves    map[resource.Key]resource.Source
}

// add takes one file's old and new objects (after their common start and
// end). The objects both lists start with under the same keys (an edited
// file's objects after the edit, moved when it changed the lines) are
// compared in pairs; the others go to was and now. It returns false when a
// key comes twice in the new objects of the changed files.
func (d *delta) add(before, after []resource.Object) bool {
	i := 0
	for ; i < len(before) && i < len(after) && before[i].Key == after[i].Key; i++ {
		if before[i].Value != after[i].Value {
			d.changed = append(d.changed, after[i].Key)
		}
		if before[i].Source != after[i].Source {
			d.move(after[i].Key, after[i].Source)
		}
	}
	for _, o := range before[i:] {
		d.was[o.Key] = o
	}
	for _, o := range after[i:] {
		if _, dup := d.now[o.Key]; dup {
			return false
		}
		d.now[o.Key] = o
	}
	return true
}

// finish compares was and now. It returns false when a new object is
// defined in a file that did not change too (a duplicate). (A key paired
// by add was defined in its file only, and is defined there still: one
// that comes in another changed file is new there, found here.)
func (d *delta) finish(prev *resource.Set) bool {
	for k, o := range d.now {
		w, ok := d.was[k]
		if !ok {
			if _, elsewhere := prev.SourceOf(k); elsewhere {
				return false
			}
		}
		if !ok || w.Value != o.Value {
			d.changed = append(d.changed, k)
		}
		if !ok || w.Source != o.Source {
			d.move(k, o.Source)
		}
	}
	for k := range d.was {
		if _, ok := d.now[k]; !ok {
			d.changed = append(d.changed, k)
			d.move(k, resource.Source{})
		}
	}
	return true
}

func (d *delta) move(k resource.Key, src resource.Source) {
	if d.moves == nil {
		d.moves = map[resource.Key]resource.Source{}
	}
	d.moves[k] = src
}

func objectsOf(st *fileState) []resource.Object {
	if st == nil {
		return nil
	}
	return st.objects
}

// middles drops the objects both lists start and end with.
func middles(a, b []resource.Object) ([]resource.Object, []resource.Object) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	a, b = a[i:], b[i:]
	j := 0
	for j < len(a) && j < len(b) && a[len(a)-1-j] == b[len(b)-1-j] {
		j++
	}
	return a[:len(a)-j], b[:len(b)-j]
}

// touchedKinds adds to touched the kinds whose objects (pointers) are not
// the same, in the same order, in a and b.
func touchedKinds(touched []string, a, b []resource.Object) []string {
	for _, list := range [][]resource.Object{a, b} {
		for _, o := range list {
			k := o.Key.Kind
			if !slices.Contains(touched, k) && !sameValues(k, a, b) {
				touched = append(touched, k)
			}
		}
	}
	return touched
}

func sameValues(kind string, a, b []resource.Object) bool {
	i, j := 0, 0
	for {
		for i < len(a) && a[i].Key.Kind != kind {
			i++
		}
		for j < len(b) && b[j].Key.Kind != kind {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i].Value != b[j].Value {
			return false
		}
		i, j = i+1, j+1
	}
}

// states returns the states of the files, in file order, in the array of
// the layout before the last one when there is one (see setLayout).
func (p *Provider) states() []*fileState {
	out := p.spareLayout[:0]
	p.spareLayout = nil
	for _, st := range p.ordered {
		if st != nil {
			out = append(out, st)
		}
	}
	return out
}

// setLayout makes next the layout. The previous layout's array, cleared,
// is the next states' (nothing reads it once replaced), so that an event
// makes no list of the files.
func (p *Provider) setLayout(next []*fileState) {
	clear(p.layout)
	p.spareLayout, p.layout = p.layout, next
}

// lists returns the parts of the next list of each kind touched, given
// that the previous Set's lists hold the objects of the files of p.layout
// in that order, each file's objects in one span: the run of the previous
// list up to the first file whose state is not the same pointer in next,
// the objects of next's files from there to the last one that changed, and
// the run after it. Finding the runs is a pass of pointer comparisons over
// the files; only the changed files' objects are looked at. ok is false
// when the previous lists are not as p.layout says (the caller rebuilds).
func (p *Provider) lists(touched []string, next []*fileState, e *fileChange) ([]resource.List, bool) {
	old := p.layout
	i := 0
	for i < len(old) && i < len(next) && old[i] == next[i] {
		i++
	}
	j := 0
	for j < len(old)-i && j < len(next)-i && old[len(old)-1-j] == next[len(next)-1-j] {
		j++
	}
	lists := make([]resource.List, len(touched))
	for t, kind := range touched {
		before, mid, after := spanOf(old[:i], kind), spanOf(old[i:len(old)-j], kind), spanOf(old[len(old)-j:], kind)
		total := p.set.Count(kind)
		if before+mid+after != total {
			return nil, false
		}
		parts := []resource.Part{{From: 0, Len: before}}
		if e != nil && len(old)-j-i == 1 && len(next)-j-i == 1 && old[i] == e.old && next[i] == e.new {
			parts = append(parts, e.span.parts(e.new, kind, before)...)
		} else {
			for _, st := range next[i : len(next)-j] {
				if n := st.ofKind(kind); n > 0 {
					parts = append(parts, resource.Part{Len: n, Objects: st.objects})
				}
			}
		}
		parts = append(parts, resource.Part{From: total - after, Len: after})
		lists[t] = resource.List{Kind: kind, Parts: parts}
	}
	return lists, true
}

// edited returns the change when it is the only one and the range of
// objects its edit replaced is known.
func edited(changes []fileChange) *fileChange {
	if len(changes) == 1 && changes[0].span.ok {
		return &changes[0]
	}
	return nil
}

// parts returns the parts of the list of kind for st, the file whose edit
// replaced sp, whose objects of kind start at from in the previous list:
// runs of that list for its objects before and after the range (one copy
// of pointers each), and the range's new objects. The objects of kind
// before the range are counted on its shorter side.
func (sp span) parts(st *fileState, kind string, from int) []resource.Part {
	n, mid := st.ofKind(kind), countKind(sp.after, kind)
	end := sp.at + len(sp.after)
	head := 0
	if sp.at <= len(st.raw)-end {
		head = countKind(st.raw[:sp.at], kind)
	} else {
		head = n - mid - countKind(st.raw[end:], kind)
	}
	return []resource.Part{
		{From: from, Len: head},
		{Len: mid, Objects: sp.after},
		{From: from + head + countKind(sp.before, kind), Len: n - head - mid},
	}
}

func countKind(objs []resource.Object, kind string) int {
	n := 0
	for _, o := range objs {
		if o.Key.Kind == kind {
			n++
		}
	}
	return n
}

// spanOf returns the number of objects of kind in files.
func spanOf(files []*fileState, kind string) int {
	n := 0
	for _, st := range files {
		n += st.ofKind(kind)
	}
	return n
}

// logDiagnostics logs the diagnostics that are new since the last event and
// reports whether the set of diagnostics changed.
func (p *Provider) logDiagnostics(ev Event) bool {
	cur := make(map[string]bool, len(ev.Errors)+len(ev.Warnings))
	changed := false
	for _, d := range ev.Errors {
		s := d.String()
		cur[s] = true
		if !p.prevDig[s] {
			changed = true
			p.log.Error("input error (the object's last good state, if any, is kept)", "diagnostic", s)
		}
	}
	for _, d := range ev.Warnings {
		s := d.String()
		cur[s] = true
		if !p.prevDig[s] {
			changed = true
			p.log.Warn("input warning", "diagnostic", s)
		}
	}
	if len(cur) != len(p.prevDig) {
		changed = true
	}
	p.prevDig = cur
	return changed
}
