package analyze

import (
	"fmt"
	"path"
	"strings"
)

// Suppression hides messages: a code (glob), an object kind (glob) and
// "namespace/name" or "name" (glob), as given to -S "CODE=Kind ns/name".
type Suppression struct {
	Code string
	Kind string
	Name string
}

// ParseSuppression reads "CODE=Kind namespace/name" (each part a glob, for
// example "GTY0301=HTTPRoute default/*" or "*=Namespace legacy").
func ParseSuppression(s string) (Suppression, error) {
	code, rest, ok := strings.Cut(s, "=")
	fields := strings.Fields(rest)
	if !ok || strings.TrimSpace(code) == "" || len(fields) != 2 {
		return Suppression{}, fmt.Errorf("suppression %q: want CODE=Kind namespace/name (globs allowed)", s)
	}
	sup := Suppression{Code: strings.TrimSpace(code), Kind: fields[0], Name: fields[1]}
	for _, p := range []string{sup.Code, sup.Kind, sup.Name} {
		if _, err := path.Match(p, ""); err != nil {
			return Suppression{}, fmt.Errorf("suppression %q: bad pattern %q: %w", s, p, err)
		}
	}
	return sup, nil
}

// Matches tells whether the suppression hides m.
func (s Suppression) Matches(m Message) bool {
	return glob(s.Code, string(m.Code)) && glob(s.Kind, m.Kind) && glob(s.Name, m.ObjectName())
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Filter selects the messages to show.
type Filter struct {
	// Namespace keeps messages about objects in that namespace and about
	// cluster-scoped objects; empty keeps all.
	Namespace    string
	MinLevel     Level
	Suppressions []Suppression
}

// Apply returns the messages f keeps, in their order.
func (f Filter) Apply(msgs []Message) []Message {
	var out []Message
	for _, m := range msgs {
		if m.Level < f.MinLevel {
			continue
		}
		if f.Namespace != "" && m.Namespace != "" && m.Namespace != f.Namespace {
			continue
		}
		if f.suppressed(m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (f Filter) suppressed(m Message) bool {
	for _, s := range f.Suppressions {
		if s.Matches(m) {
			return true
		}
	}
	return false
}

// MaxLevel returns the highest level among msgs and whether there are any.
func MaxLevel(msgs []Message) (Level, bool) {
	if len(msgs) == 0 {
		return Info, false
	}
	max := Info
	for _, m := range msgs {
		if m.Level > max {
			max = m.Level
		}
	}
	return max, true
}
