package loop

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

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

// kindOfElem maps the element type of each list of a Set (*T) to its
// kind's name, from resource's kinds table.
var kindOfElem = func() map[reflect.Type]string {
	m := map[reflect.Type]string{}
	for _, k := range resource.Kinds() {
		m[reflect.TypeOf(k.New())] = k.Kind
	}
	return m
}()

// diffSets lists the objects that differ between a and b, field by field
// in the Set's order, then in b's order (removals last). An object that is
// the same pointer in both is unchanged without a look at its contents;
// otherwise the contents are compared. Sources (file positions) are not
// inputs of translation and are not compared.
func diffSets(a, b *resource.Set) []change {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []change
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Kind() != reflect.Slice || fa.Len() == fb.Len() && (fa.Len() == 0 || fa.Pointer() == fb.Pointer()) {
			continue
		}
		out = append(out, diffField(kindOfElem[fa.Type().Elem()], fa, fb)...)
	}
	return out
}

// diffList is diffField for one list of a Set; the same list (or two
// empty ones) costs nothing.
func diffList[T object](kind string, a, b []T) []change {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		return nil
	}
	return diffField(kind, reflect.ValueOf(a), reflect.ValueOf(b))
}

type objKey struct{ ns, name string }

func diffField(kind string, fa, fb reflect.Value) []change {
	if out, ok := diffInPlace(kind, fa, fb); ok {
		return out
	}
	old := make(map[objKey]object, fa.Len())
	for j := 0; j < fa.Len(); j++ {
		if o, ok := fa.Index(j).Interface().(object); ok {
			old[objKey{o.GetNamespace(), o.GetName()}] = o
		}
	}
	var out []change
	for j := 0; j < fb.Len(); j++ {
		n, ok := fb.Index(j).Interface().(object)
		if !ok {
			continue
		}
		k := objKey{n.GetNamespace(), n.GetName()}
		o, had := old[k]
		delete(old, k)
		if had && (o == n || reflect.DeepEqual(o, n)) {
			continue
		}
		c := change{kind: kind, new: n}
		if had {
			c.old = o
		}
		out = append(out, c)
	}
	for j := 0; j < fa.Len(); j++ {
		if o, ok := fa.Index(j).Interface().(object); ok {
			if _, gone := old[objKey{o.GetNamespace(), o.GetName()}]; gone {
				out = append(out, change{kind: kind, old: o})
			}
		}
	}
	return out
}

// diffInPlace compares two lists of the same length position by position,
// which costs no map when a provider keeps its order (the file provider,
// a Set derived from the previous one); false when an object sits where
// another was.
func diffInPlace(kind string, fa, fb reflect.Value) ([]change, bool) {
	if fa.Len() != fb.Len() {
		return nil, false
	}
	var out []change
	for _, j := range pointerDiffs(fa, fb) {
		o, ok1 := fa.Index(j).Interface().(object)
		n, ok2 := fb.Index(j).Interface().(object)
		if !ok1 || !ok2 || o.GetNamespace() != n.GetNamespace() || o.GetName() != n.GetName() {
			return nil, false
		}
		if !reflect.DeepEqual(o, n) {
			out = append(out, change{kind: kind, old: o, new: n})
		}
	}
	return out, true
}

// pointerDiffs lists the positions where two lists of the same length
// hold different pointers: typed for the long lists (routes, Services,
// EndpointSlices), which a batch scans without reflection per element, by
// reflection for the others.
func pointerDiffs(fa, fb reflect.Value) []int {
	switch a := fa.Interface().(type) {
	case []*gwapiv1.HTTPRoute:
		return diffPositions(a, fb.Interface().([]*gwapiv1.HTTPRoute))
	case []*gwapiv1.GRPCRoute:
		return diffPositions(a, fb.Interface().([]*gwapiv1.GRPCRoute))
	case []*gwapiv1.TLSRoute:
		return diffPositions(a, fb.Interface().([]*gwapiv1.TLSRoute))
	case []*gwapiv1.TCPRoute:
		return diffPositions(a, fb.Interface().([]*gwapiv1.TCPRoute))
	case []*gwapiv1.UDPRoute:
		return diffPositions(a, fb.Interface().([]*gwapiv1.UDPRoute))
	case []*corev1.Service:
		return diffPositions(a, fb.Interface().([]*corev1.Service))
	case []*discoveryv1.EndpointSlice:
		return diffPositions(a, fb.Interface().([]*discoveryv1.EndpointSlice))
	}
	var out []int
	for j := 0; j < fa.Len(); j++ {
		if fa.Index(j).Pointer() != fb.Index(j).Pointer() {
			out = append(out, j)
		}
	}
	return out
}

func diffPositions[T any](a, b []*T) []int {
	var out []int
	for j := range a {
		if a[j] != b[j] {
			out = append(out, j)
		}
	}
	return out
}
