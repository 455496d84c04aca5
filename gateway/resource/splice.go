package resource

import "reflect"

// fieldOfKind maps a kind to the index of its list in Set.
var fieldOfKind = func() map[string]int {
	m := map[string]int{}
	st := reflect.TypeFor[Set]()
	for i := range kinds {
		want := reflect.PointerTo(kinds[i].typ)
		for f := range st.NumField() {
			if ft := st.Field(f).Type; ft.Kind() == reflect.Slice && ft.Elem() == want {
				m[kinds[i].Kind] = f
			}
		}
	}
	return m
}()

// Without returns a copy of s that shares every list and the Sources map
// with s, except the lists of the named kinds, which are empty: a producer
// refills them with KindInfo.Add to build the next Set at the cost of the
// kinds that changed. Neither Set may be modified afterwards (the shared
// lists are those of s).
func (s *Set) Without(kindNames ...string) *Set {
	next := *s
	v := reflect.ValueOf(&next).Elem()
	for _, k := range kindNames {
		if i, ok := fieldOfKind[k]; ok {
			v.Field(i).SetZero()
		}
	}
	return &next
}
