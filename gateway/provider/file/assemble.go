package file

import (
	"cmp"
	"maps"
	"slices"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// fileChange is one file whose state changed: added (old nil), removed
// (new nil) or read again with other bytes.
type fileChange struct {
	old, new *fileState
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
	for _, f := range p.order {
		if st := p.files[f]; st != nil {
			ev.Errors = append(ev.Errors, st.errors...)
			ev.Warnings = append(ev.Warnings, st.warns...)
		}
	}
	a := assembly{set: p.set, dups: p.dupDiags}
	switch {
	case !initial && p.set != nil && len(changes) == 0:
	case initial || p.set == nil || len(p.dupDiags) > 0 || !p.splice(changes, &a):
		a = p.rebuild()
	}
	ev.Set = a.set
	ev.Errors = append(ev.Errors, a.dups...)
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
	diagsChanged := p.logDiagnostics(ev)
	return ev, initial || setChanged || diagsChanged
}

func compareKeys(a, b resource.Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// rebuild assembles the Set from every file as resource.BuildSet does
// (duplicates left out and reported) and compares it with the previous
// one, object by object; an unchanged Set stays the previous pointer.
func (p *Provider) rebuild() assembly {
	var objs []resource.Object
	for _, f := range p.order {
		if st := p.files[f]; st != nil {
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
	if p.set != nil && len(a.changed) == 0 && maps.Equal(p.set.Sources, set.Sources) {
		a.set = p.set
	}
	return a
}

// splice assembles the next Set from the previous one and the changed
// files at the cost of the change: only the objects where a changed file's
// old and new lists differ are compared, only the lists of the kinds whose
// objects or order changed are built again (a copy of pointers in file
// order), the others are shared with the previous Set, and Sources is
// copied only when an object was added, removed or moved. It returns false
// (and the caller rebuilds) when the change makes a duplicate.
func (p *Provider) splice(changes []fileChange, a *assembly) bool {
	was := map[resource.Key]resource.Object{}
	now := map[resource.Key]resource.Object{}
	var touched []string
	for _, c := range changes {
		var before, after []resource.Object
		if c.old != nil {
			before = c.old.objects
		}
		if c.new != nil {
			after = c.new.objects
		}
		before, after = middles(before, after)
		touched = touchedKinds(touched, before, after)
		for _, o := range before {
			was[o.Key] = o
		}
		for _, o := range after {
			if _, dup := now[o.Key]; dup {
				return false
			}
			now[o.Key] = o
		}
	}
	moved := false
	for k, o := range now {
		w, ok := was[k]
		if !ok {
			if _, elsewhere := p.set.Sources[k]; elsewhere {
				return false // defined in a file that did not change
			}
		}
		if !ok || w.Value != o.Value {
			a.changed = append(a.changed, k)
		}
		moved = moved || !ok || w.Source != o.Source
	}
	for k := range was {
		if _, ok := now[k]; !ok {
			a.changed = append(a.changed, k)
			moved = true
		}
	}
	if len(touched) == 0 && !moved {
		return true
	}
	set := p.fill(touched)
	if moved {
		set.Sources = maps.Clone(p.set.Sources)
		for k := range was {
			delete(set.Sources, k)
		}
		for k, o := range now {
			set.Sources[k] = o.Source
		}
	}
	a.set, a.dups = set, nil
	return true
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

// fill returns the previous Set with the lists of the kinds touched built
// again: every object of those kinds, in file order.
func (p *Provider) fill(touched []string) *resource.Set {
	room := make(map[string]int, len(touched))
	counts := make([]int, len(touched))
	p.eachOf(touched, func(i int, _ resource.Object) { counts[i]++ })
	for i, k := range touched {
		room[k] = counts[i]
	}
	set := p.set.Without(room)
	infos := make([]resource.KindInfo, len(touched))
	for i, k := range touched {
		infos[i], _ = resource.KindOf(k)
	}
	p.eachOf(touched, func(i int, o resource.Object) { infos[i].Add(set, o.Value) })
	return set
}

// eachOf calls fn for every object of the kinds, in file order, with the
// index of its kind in kinds.
func (p *Provider) eachOf(kinds []string, fn func(i int, o resource.Object)) {
	for _, f := range p.order {
		st := p.files[f]
		if st == nil {
			continue
		}
		for _, o := range st.objects {
			if i := slices.Index(kinds, o.Key.Kind); i >= 0 {
				fn(i, o)
			}
		}
	}
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
