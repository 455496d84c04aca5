package loop

import (
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// safely runs one unit of the loop's work. A panic in it is recovered,
// counted (gantry_loop_panics_total) and logged with the names of the
// batch's objects, never their contents; whatever the cache serves stays
// as it was before the batch.
func (l *Loop) safely(what string, names func() []string, f func()) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		l.panics.Inc()
		l.log.Error("panic while processing; the previous configuration stays served",
			"work", what, "panic", fmt.Sprint(r), "objects", names(), "stack", string(debug.Stack()))
	}()
	f()
}

// objectNames lists "Kind namespace/name" of every object of set, in the
// Set's field order.
func objectNames(set *resource.Set) []string {
	if set == nil {
		return nil
	}
	var out []string
	v := reflect.ValueOf(set).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		kind := v.Type().Field(i).Name
		for j := 0; j < f.Len(); j++ {
			m, ok := f.Index(j).Interface().(interface {
				GetNamespace() string
				GetName() string
			})
			if !ok {
				continue
			}
			out = append(out, resource.Key{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}.String())
		}
	}
	return out
}

func noNames() []string { return nil }
