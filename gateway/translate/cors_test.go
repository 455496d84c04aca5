package translate

import (
	"regexp"
	"testing"

	"github.com/gantryproxy/gantry/xds/ir"
)

// TestOriginMatch: allowed origins become exact matches, or a regular
// expression for a wildcard host that matches any labels on its left and
// nothing else.
func TestOriginMatch(t *testing.T) {
	cases := []struct {
		origin string
		ok     bool
		typ    ir.StringMatchType
		match  []string
		reject []string
	}{
		{origin: "*", ok: true, typ: ir.MatchExact},
		{origin: "https://www.example.com", ok: true, typ: ir.MatchExact},
		{origin: "http://app.example.com:8080", ok: true, typ: ir.MatchExact},
		{origin: "https://*.example.com", ok: true, typ: ir.MatchRegex,
			match:  []string{"https://a.example.com", "https://a.b.example.com"},
			reject: []string{"http://a.example.com", "https://example.com", "https://a.example.com.evil.net", "https://aexample.com"}},
		{origin: "https://*.example.org:8443", ok: true, typ: ir.MatchRegex,
			match:  []string{"https://x.example.org:8443"},
			reject: []string{"https://x.example.org", "https://x.example.org:844"}},
		{origin: "ftp://files.example.com"},
		{origin: "example.com"},
	}
	for _, c := range cases {
		m, ok := originMatch(c.origin)
		if ok != c.ok {
			t.Errorf("%q: ok = %v, want %v", c.origin, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if m.Type != c.typ {
			t.Errorf("%q: type %s, want %s", c.origin, m.Type, c.typ)
		}
		if m.Type != ir.MatchRegex {
			continue
		}
		re := regexp.MustCompile(m.Value)
		for _, s := range c.match {
			if !re.MatchString(s) {
				t.Errorf("%q (%s) does not match %q", c.origin, m.Value, s)
			}
		}
		for _, s := range c.reject {
			if re.MatchString(s) {
				t.Errorf("%q (%s) matches %q", c.origin, m.Value, s)
			}
		}
	}
}
