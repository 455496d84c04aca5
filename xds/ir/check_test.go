package ir

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRegexProgramSizeBoundsRE2 compares the estimate with the program
// sizes RE2 itself reports (testdata/re2-program-size.tsv, measured with
// libre2's RE2::ProgramSize): the estimate must never be below RE2's count,
// so an expression Gantry accepts is never refused by Envoy, and stays
// within a small factor of it for expressions below the limit.
func TestRegexProgramSizeBoundsRE2(t *testing.T) {
	f, err := os.Open("testdata/re2-program-size.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	n := 0
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		want, expr, ok := strings.Cut(line, "\t")
		re2, err := strconv.Atoi(want)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		got, err := RegexProgramSize(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		if got < re2 {
			t.Errorf("%q: estimate %d is below RE2's program size %d", expr, got, re2)
		}
		if re2 <= MaxRegexProgramSize && got > 5*re2 {
			t.Errorf("%q: estimate %d is more than 5 times RE2's %d", expr, got, re2)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d samples read", n)
	}
}

func TestCheckRegex(t *testing.T) {
	for _, ok := range []string{"/foo/[^/]+", "^https://.*\\.example\\.com$", "(?i)abc"} {
		if err := CheckRegex(ok); err != nil {
			t.Errorf("CheckRegex(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "(", "[\\p{L}]+", "a{1000}", strings.Repeat("(ab|cd)", 60), "x{2,1}"} {
		if err := CheckRegex(bad); err == nil {
			t.Errorf("CheckRegex(%q) accepted", bad)
		}
	}
}

func TestCheckHeaders(t *testing.T) {
	cases := []struct {
		name    string
		mutable bool
	}{
		{name: "x-ok", mutable: true},
		{name: "X-Upper_and.dot~", mutable: true},
		{name: "Host"}, {name: "host"}, {name: ":authority"}, {name: ":path"},
		{name: ""}, {name: "a b"}, {name: "a\r\nb"}, {name: "a\x00"}, {name: "é"}, {name: "a:b"},
	}
	for _, c := range cases {
		if err := CheckMutableHeader(c.name); (err == nil) != c.mutable {
			t.Errorf("CheckMutableHeader(%q) = %v, want mutable=%v", c.name, err, c.mutable)
		}
	}
	for v, ok := range map[string]bool{"plain": true, "tab\there": true, "": true, "utf8 é": true,
		"cr\rx": false, "lf\nx": false, "nul\x00": false, "del\x7f": false, "bell\a": false} {
		if err := CheckHeaderValue(v); (err == nil) != ok {
			t.Errorf("CheckHeaderValue(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestCheckPathAndHostname(t *testing.T) {
	for p, ok := range map[string]bool{"/": true, "/a/b%2F": true, "a": false, "/a b": false,
		"/a\r\n": false, "/a?b": false, "/a#b": false, "/\x00": false, "": false} {
		if err := CheckPath(p); (err == nil) != ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
	for h, ok := range map[string]bool{"example.com": true, "a-b.c:8080": true, "": false,
		"a b": false, "a/b": false, "a\r\nb": false, "é.com": false, "a@b": false} {
		if err := CheckHostname(h); (err == nil) != ok {
			t.Errorf("CheckHostname(%q) = %v, want ok=%v", h, err, ok)
		}
	}
}
