package loop

import (
	"fmt"
	"runtime/debug"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// safely runs one unit of the loop's work. A panic in it is recovered,
// logged with the names of the batch's objects (those that changed), never
// their contents, and counted (gantry_loop_panics_total); whatever the
// cache serves stays as it was before the batch.
func (l *Loop) safely(what string, names func() []string, f func()) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		l.log.Error("panic while processing; the previous configuration stays served",
			"work", what, "panic", fmt.Sprint(r), "objects", names(), "stack", string(debug.Stack()))
		l.panics.Inc()
	}()
	f()
}

// batchNames returns what names a batch's objects in a panic's log: the
// objects that differ from the last translated Set (every object when there
// is none).
func (l *Loop) batchNames(set *resource.Set) func() []string {
	prev := l.pieces
	return func() []string {
		if prev == nil || set == nil {
			return objectNames(set)
		}
		var out []string
		for _, c := range diffSets(prev.set, set) {
			out = append(out, c.name())
		}
		return out
	}
}

// objectNames lists "Kind namespace/name" of every object of set, in the
// order of Set.Each.
func objectNames(set *resource.Set) []string {
	if set == nil {
		return nil
	}
	var out []string
	set.Each(func(k resource.Key, _ metav1.Object) { out = append(out, k.String()) })
	return out
}

func noNames() []string { return nil }
