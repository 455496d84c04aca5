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
// with s, except the lists of the kinds in room, which are empty: nil, or
// a new array with room for room[kind] objects. A producer refills them
// with KindInfo.Add to build the next Set at the cost of the kinds that
// changed. Neither Set may be modified afterwards (the shared lists are
// those of s).
func (s *Set) Without(room map[string]int) *Set {
	next := *s
	v := reflect.ValueOf(&next).Elem()
	for k, n := range room {
		i, ok := fieldOfKind[k]
		if !ok {
			continue
		}
		f := v.Field(i)
		if n == 0 {
			f.SetZero()
		} else {
			f.Set(reflect.MakeSlice(f.Type(), 0, n))
		}
	}
	return &next
}
