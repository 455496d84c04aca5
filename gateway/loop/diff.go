package loop

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// change is one object that differs between two Sets: added (old nil),
// removed (new nil) or changed. Kind is the object's kind ("HTTPRoute"),
// from resource's kinds table.
type change struct {
	kind     string
	old, new object
}

// object is what every input object has.
type object interface {
	GetNamespace() string
	GetName() string
}

// name is "Kind namespace/name".
func (c change) name() string {
	o := c.new
	if o == nil {
		o = c.old
	}
	return resource.Key{Kind: c.kind, Namespace: o.GetNamespace(), Name: o.GetName()}.String()
}

// kinds is resource's table of kinds, which diffSets walks.
var kinds = resource.Kinds()

// diffSets lists the objects that differ between a and b, kind by kind in
// the table's order, each kind in b's order (removals last). An object
// that is the same pointer in both is unchanged without a look at its
// contents, and the runs of a list two Sets share (a Set spliced from the
// other) are skipped whole; otherwise the contents are compared. Sources
// (file positions) are not inputs of translation and are not compared.
func diffSets(a, b *resource.Set) []change {
	var out []change
	for i := range kinds {
		out = append(out, diffKind(&kinds[i], a, b)...)
	}
	return out
}

type objKey struct{ ns, name string }

// diffKind lists the objects of kind k that differ between a and b:
// position by position when the lists have the same length, which costs
// no map when a provider keeps its order (the file provider, a Set derived
// from the previous one), by name otherwise or when an object sits where
// another was.
func diffKind(k *resource.KindInfo, a, b *resource.Set) []change {
	if out, ok := diffInPlace(k, a, b); ok {
		return out
	}
	old := make(map[objKey]object, a.Count(k.Kind))
	k.Each(a, func(o metav1.Object) { old[objKey{o.GetNamespace(), o.GetName()}] = o })
	var out []change
	k.Each(b, func(n metav1.Object) {
		key := objKey{n.GetNamespace(), n.GetName()}
		o, had := old[key]
		delete(old, key)
		if had && (o == n || reflect.DeepEqual(o, n)) {
			return
		}
		c := change{kind: k.Kind, new: n}
		if had {
			c.old = o
		}
		out = append(out, c)
	})
	k.Each(a, func(o metav1.Object) {
		if _, gone := old[objKey{o.GetNamespace(), o.GetName()}]; gone {
			out = append(out, change{kind: k.Kind, old: o})
		}
	})
	return out
}

// diffInPlace compares two lists of the same length position by position;
// false when an object sits where another was.
func diffInPlace(k *resource.KindInfo, a, b *resource.Set) ([]change, bool) {
	switch n := a.Count(k.Kind); {
	case n != b.Count(k.Kind):
		return nil, false
	case n == 0:
		return nil, true
	}
	var out []change
	for o, n := range k.Differing(a, b) {
		if o.GetNamespace() != n.GetNamespace() || o.GetName() != n.GetName() {
			return nil, false
		}
		if !reflect.DeepEqual(o, n) {
			out = append(out, change{kind: k.Kind, old: o, new: n})
		}
	}
	return out, true
}
