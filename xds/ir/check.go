package ir

import (
	"fmt"
	"regexp/syntax"
	"strings"
)

// The checks below are what Envoy (its protos' validation rules, its own
// configuration checks and its RE2 limit) refuses in a route. Translators
// run them per rule, so that one bad rule is reported and left out instead
// of making the whole proxy's configuration fail to build; xds/envoy runs
// them again as the last line of defence.

// MaxRegexProgramSize is the largest RE2 program Envoy accepts in a regular
// expression. Every Envoy bootstrap Gantry generates sets Envoy's
// re2.max_program_size.error_level runtime key to this value, and
// CheckRegex measures each expression against it (see RegexProgramSize).
const MaxRegexProgramSize = 200

// CheckHeaderName accepts an HTTP header field name: an RFC 9110 token.
func CheckHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return fmt.Errorf("header name %q: byte %q is not allowed in a header name", name, name[i])
		}
	}
	return nil
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// CheckHeaderValue rejects NUL, CR and LF (request smuggling, and what
// Envoy's protos refuse) and the other control characters but horizontal
// tab, which RFC 9110 does not allow in a field value.
func CheckHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("value %q: control character %q is not allowed in a header value", v, c)
		}
	}
	return nil
}

// CheckMutableHeader accepts a header name that a route may add, set or
// remove: a valid name that is neither a pseudo-header (":authority",
// ":path"...) nor Host, which Envoy refuses to edit (host and path are
// changed by rewrites instead).
func CheckMutableHeader(name string) error {
	if strings.HasPrefix(name, ":") {
		return fmt.Errorf("header %q cannot be edited: pseudo-headers are not modifiable", name)
	}
	if err := CheckHeaderName(name); err != nil {
		return err
	}
	if strings.EqualFold(name, "host") {
		return fmt.Errorf("header %q cannot be edited: use a URLRewrite hostname instead", name)
	}
	return nil
}

// CheckPath accepts a path used as a rewrite or redirect target or a
// literal match: it starts with "/" and has no control characters, spaces,
// "#", or (for a rewrite) "?".
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= 0x20 || c == 0x7f || c == '#' || c == '?' {
			return fmt.Errorf("path %q: byte %q is not allowed in a path", p, c)
		}
	}
	return nil
}

// CheckRegex accepts an RE2 expression whose program fits
// MaxRegexProgramSize.
func CheckRegex(expr string) error {
	if expr == "" {
		return fmt.Errorf("empty regular expression")
	}
	size, err := RegexProgramSize(expr)
	if err != nil {
		return fmt.Errorf("regular expression %q: %w", expr, err)
	}
	if size > MaxRegexProgramSize {
		return fmt.Errorf("regular expression %q is too complex: its RE2 program size is about %d, more than the limit %d", truncate(expr, 80), size, MaxRegexProgramSize)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CheckHostname accepts a host name used in a redirect or a host rewrite.
func CheckHostname(h string) error {
	if h == "" {
		return fmt.Errorf("empty hostname")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("/?#@\\", c) >= 0 {
			return fmt.Errorf("hostname %q: byte %q is not allowed", h, c)
		}
	}
	return nil
}

// RegexProgramSize estimates the size of the program RE2 (the engine Envoy
// uses) compiles expr to, the number Envoy compares with
// re2.max_program_size.error_level. expr is parsed with RE2's syntax (Go's
// regexp/syntax implements it, Perl flags) and compiled by Go's compiler;
// each instruction then counts as RE2 would compile it: a character class
// as its UTF-8 byte ranges, with the continuation bytes shared as RE2's
// suffix cache shares them, and the unanchored-search prefix RE2 adds. The
// estimate is meant not to fall below RE2's own count, so what Gantry
// accepts Envoy accepts; docs/security.md says how it compares.
func RegexProgramSize(expr string) (int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	size := 0
	for _, in := range prog.Inst {
		size += instSize(&in)
	}
	if prog.StartCond()&syntax.EmptyBeginText == 0 {
		size += 3 // RE2's ".*?" prefix for an unanchored search
	}
	return size, nil
}

func instSize(in *syntax.Inst) int {
	switch in.Op {
	case syntax.InstRune1:
		return literalSize(in.Rune[0], syntax.Flags(in.Arg)&syntax.FoldCase != 0)
	case syntax.InstRune:
		if len(in.Rune) == 1 {
			return literalSize(in.Rune[0], syntax.Flags(in.Arg)&syntax.FoldCase != 0)
		}
		return classSize(in.Rune)
	case syntax.InstRuneAny:
		return classSize([]rune{0, maxRune})
	case syntax.InstRuneAnyNotNL:
		return classSize([]rune{0, '\n' - 1, '\n' + 1, maxRune})
	}
	return 1
}

// Check returns the first part of r that Envoy would refuse, named by its
// IR field; nil when every part passes the checks above.
func (r *Route) Check() error {
	if err := r.Match.check(); err != nil {
		return fmt.Errorf("match: %w", err)
	}
	if err := r.RequestHeaders.check(); err != nil {
		return fmt.Errorf("requestHeaders: %w", err)
	}
	if err := r.ResponseHeaders.check(); err != nil {
		return fmt.Errorf("responseHeaders: %w", err)
	}
	if f := r.Forward; f != nil {
		for i, b := range f.Backends {
			if err := b.RequestHeaders.check(); err != nil {
				return fmt.Errorf("forward.backends[%d].requestHeaders: %w", i, err)
			}
			if err := b.ResponseHeaders.check(); err != nil {
				return fmt.Errorf("forward.backends[%d].responseHeaders: %w", i, err)
			}
		}
		if rw := f.Rewrite; rw != nil {
			if err := checkTarget(rw.Hostname, rw.FullPath, rw.PrefixPath); err != nil {
				return fmt.Errorf("forward.rewrite: %w", err)
			}
		}
	}
	if rd := r.Redirect; rd != nil {
		if err := checkTarget(rd.Hostname, rd.FullPath, rd.PrefixPath); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
	}
	if c := r.CORS; c != nil {
		for i, o := range c.AllowOrigins {
			if o.Type == MatchRegex {
				if err := CheckRegex(o.Value); err != nil {
					return fmt.Errorf("cors.allowOrigins[%d]: %w", i, err)
				}
			}
		}
	}
	return nil
}

func (m *RouteMatch) check() error {
	switch m.PathType {
	case PathRegex:
		if err := CheckRegex(m.Path); err != nil {
			return fmt.Errorf("path: %w", err)
		}
	case PathExact, PathPrefix:
		if m.Path != "" && (!strings.HasPrefix(m.Path, "/") || strings.ContainsAny(m.Path, "?#")) {
			return fmt.Errorf("path %q must start with / and hold no ? or #", m.Path)
		}
	}
	for i, h := range m.Headers {
		if err := CheckHeaderName(h.Name); err != nil {
			return fmt.Errorf("headers[%d]: %w", i, err)
		}
		if err := h.checkValue(); err != nil {
			return fmt.Errorf("headers[%d] %s: %w", i, h.Name, err)
		}
	}
	for i, q := range m.Query {
		if q.Name == "" {
			return fmt.Errorf("query[%d]: empty name", i)
		}
		if err := q.checkValue(); err != nil {
			return fmt.Errorf("query[%d] %s: %w", i, q.Name, err)
		}
	}
	return nil
}

func (s StringMatch) checkValue() error {
	switch s.Type {
	case MatchRegex:
		return CheckRegex(s.Value)
	case MatchPrefix:
		if s.Value == "" {
			return fmt.Errorf("empty prefix")
		}
	}
	return nil
}

func (m *HeaderMutation) check() error {
	if m == nil {
		return nil
	}
	for _, list := range [][]Header{m.Add, m.Set} {
		for _, h := range list {
			if err := CheckMutableHeader(h.Name); err != nil {
				return err
			}
			if err := CheckHeaderValue(h.Value); err != nil {
				return fmt.Errorf("header %s: %w", h.Name, err)
			}
		}
	}
	for _, name := range m.Remove {
		if err := CheckMutableHeader(name); err != nil {
			return err
		}
	}
	return nil
}

func checkTarget(hostname string, fullPath, prefixPath *string) error {
	if hostname != "" {
		if err := CheckHostname(hostname); err != nil {
			return err
		}
	}
	for _, p := range []*string{fullPath, prefixPath} {
		if p != nil {
			if err := CheckPath(*p); err != nil {
				return err
			}
		}
	}
	return nil
}
