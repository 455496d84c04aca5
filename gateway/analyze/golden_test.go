package analyze

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/analyzers.md")

// goldenNow is the time certificates are checked against unless a case says
// otherwise.
var goldenNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

var goldenFormats = []Format{FormatLog, FormatJSON, FormatYAML}

// Case files are testdata/<analyzer>.<pos|neg>[-variant].in.yaml. A
// positive case must draw at least one message with one of the analyzer's
// codes; a negative case none. Every case's full output (all analyzers) is
// compared with <case>.log, <case>.json and <case>.yaml.
//
// Options come from the input's "# analyze: key=value ..." lines: now=RFC3339,
// live=true, pods=complete, controller=NAME, analyzers=a,b.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden cases in testdata")
	}
	covered := map[string][2]bool{}
	wanted := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		analyzer, kind, ok := strings.Cut(name, ".")
		if !ok || !(strings.HasPrefix(kind, "pos") || strings.HasPrefix(kind, "neg")) {
			t.Errorf("%s: case name must be <analyzer>.<pos|neg>[-variant]", in)
			continue
		}
		positive := strings.HasPrefix(kind, "pos")
		c := covered[analyzer]
		if positive {
			c[0] = true
		} else {
			c[1] = true
		}
		covered[analyzer] = c
		for _, f := range goldenFormats {
			wanted[filepath.Join("testdata", name+"."+string(f))] = true
		}
		t.Run(name, func(t *testing.T) {
			msgs := runCase(t, in, false)
			if reversed := runCase(t, in, true); !slices.Equal(msgs, reversed) {
				t.Errorf("output depends on input order:\n%v\nreversed:\n%v", msgs, reversed)
			}
			checkPolarity(t, analyzer, positive, msgs)
			for _, f := range goldenFormats {
				var buf bytes.Buffer
				if err := Write(&buf, msgs, f); err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join("testdata", name+"."+string(f)), buf.Bytes())
			}
		})
	}
	for _, a := range All() {
		c := covered[a.Name()]
		if !c[0] || !c[1] {
			t.Errorf("analyzer %s needs a positive and a negative golden case (have pos=%v neg=%v)", a.Name(), c[0], c[1])
		}
	}
	checkOrphans(t, wanted)
}

// runCase analyzes one input; reverse feeds the objects in reverse order.
func runCase(t *testing.T, in string, reverse bool) []Message {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(in)
	res, err := resource.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("input does not load: %v", res.Errors)
	}
	set := res.Set
	if reverse {
		objs := set.Objects()
		slices.Reverse(objs)
		set, _, _ = resource.BuildSet(objs)
	}
	opts := caseOptions(t, data)
	opts.CRDs = ScanCRDs(name, data)
	msgs, err := Analyze(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func caseOptions(t *testing.T, data []byte) Options {
	opts := Options{Now: goldenNow}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "# analyze:")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "now":
				tm, err := time.Parse(time.RFC3339, v)
				if err != nil {
					t.Fatalf("now=%s: %v", v, err)
				}
				opts.Now = tm
			case "live":
				opts.Live = v == "true"
			case "pods":
				opts.PodsComplete = v == "complete"
			case "controller":
				opts.ControllerName = v
			case "analyzers":
				opts.Analyzers = strings.Split(v, ",")
			default:
				t.Fatalf("unknown case option %q", k)
			}
		}
	}
	return opts
}

func checkPolarity(t *testing.T, analyzer string, positive bool, msgs []Message) {
	t.Helper()
	var codes []Code
	for _, e := range Catalogue() {
		if e.Analyzer == analyzer {
			codes = append(codes, e.Code)
		}
	}
	if len(codes) == 0 {
		t.Fatalf("no analyzer %q in the catalogue", analyzer)
	}
	var hits []string
	for _, m := range msgs {
		if slices.Contains(codes, m.Code) {
			hits = append(hits, m.String())
		}
	}
	if positive && len(hits) == 0 {
		t.Errorf("positive case: no message from analyzer %s (codes %v)", analyzer, codes)
	}
	if !positive && len(hits) > 0 {
		t.Errorf("negative case: analyzer %s reported:\n%s", analyzer, strings.Join(hits, "\n"))
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./gateway/analyze -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (run go test ./gateway/analyze -update)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// checkOrphans fails on golden files without an input.
func checkOrphans(t *testing.T, wanted map[string]bool) {
	t.Helper()
	for _, f := range goldenFormats {
		files, err := filepath.Glob("testdata/*." + string(f))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, ".in.yaml") || wanted[file] {
				continue
			}
			if *update {
				if err := os.Remove(file); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("orphaned golden %s: no matching .in.yaml", file)
		}
	}
}

func readTestdata(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	return string(b), err
}
