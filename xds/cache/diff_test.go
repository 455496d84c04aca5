package cache

import (
	"slices"
	"testing"

	"github.com/gantryproxy/gantry/internal/plist"
)

func res(name, hash string) *Resource { return &Resource{Name: name, Hash: hash} }

// diffLists sends what is new or changed and removes what is gone,
// whether or not unchanged resources are the same pointers.
func TestDiffLists(t *testing.T) {
	a, b, c := res("a", "1"), res("b", "1"), res("c", "1")
	cases := []struct {
		name     string
		from, to []*Resource
		send     []string
		removed  []string
	}{
		{name: "same", from: []*Resource{a, b}, to: []*Resource{a, b}},
		{name: "equal copies", from: []*Resource{a, b}, to: []*Resource{res("a", "1"), res("b", "1")}},
		{name: "changed", from: []*Resource{a, b, c}, to: []*Resource{a, res("b", "2"), c}, send: []string{"b"}},
		{name: "added and removed", from: []*Resource{b}, to: []*Resource{a, c}, send: []string{"a", "c"}, removed: []string{"b"}},
		{name: "all gone", from: []*Resource{a, b}, removed: []string{"a", "b"}},
	}
	for _, tc := range cases {
		send, removed := diffLists(plist.Of(tc.from...), plist.Of(tc.to...))
		var names []string
		for _, r := range send {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, tc.send) || !slices.Equal(removed, tc.removed) {
			t.Errorf("%s: send %v removed %v, want %v %v", tc.name, names, removed, tc.send, tc.removed)
		}
	}
}
