package resource

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// every object it keeps must have a source and a name.
func FuzzParse(f *testing.F) {
	f.Add([]byte(gatewayClassYAML + "---\n" + route("a")))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}]}`))
	f.Add([]byte("a: &x [1, *x]\n---\n- 1\n...\nkind: [\n"))
	f.Add([]byte(strings.Replace(route("b"), "port: 80", "port: 1e9", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Parse("fuzz.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			if o.Key.Name == "" || o.Source.File != "fuzz.yaml" || o.Source.Line < 1 || o.Value == nil {
				t.Fatalf("bad object %+v", o)
			}
		}
		for _, d := range append(res.Errors, res.Warnings...) {
			if d.Message == "" || d.Source.File != "fuzz.yaml" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}
