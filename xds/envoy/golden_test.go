package envoy

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/xds/ir"
)

var update = flag.Bool("update", false, "rewrite the golden files of xds/envoy/testdata")

// goldenKinds are the output files of a case, in Resources order.
var goldenKinds = []string{"listeners", "routes", "clusters", "endpoints", "secrets"}

// goldenCase is the content of testdata/<case>.ir.yaml. Durations may be
// written as Go durations ("10s") and PEM data as plain text.
type goldenCase struct {
	Options Options  `json:"options"`
	Proxy   ir.Proxy `json:"proxy"`
	// Error, when set, is a substring of the error Build must return; such
	// cases have no output files.
	Error string `json:"error,omitempty"`
}

// irCase is one testdata/<Name>.ir.yaml input, read.
type irCase struct {
	Name string
	Path string
	Case *goldenCase
}

// irCases reads every testdata/*.ir.yaml input, in name order.
func irCases(t testing.TB) []irCase {
	t.Helper()
	var out []irCase
	for _, c := range golden.Cases(t, "testdata", ".ir.yaml") {
		out = append(out, irCase{Name: c.Name, Path: c.Path, Case: readCase(t, c.Path)})
	}
	return out
}

// builtCase is a golden case that builds, with its resources.
type builtCase struct {
	Name      string
	Resources *Resources
}

// builtCases builds the cases of one flavor that expect no error; a build
// failure fails the test.
func builtCases(t *testing.T, flavor Flavor) []builtCase {
	t.Helper()
	var out []builtCase
	for _, c := range irCases(t) {
		if c.Case.Error != "" || c.Case.Options.Flavor != flavor {
			continue
		}
		res, err := Build(&c.Case.Proxy, c.Case.Options)
		if err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
		out = append(out, builtCase{Name: c.Name, Resources: res})
	}
	return out
}

func TestGolden(t *testing.T) {
	cases := irCases(t)
	if len(cases) == 0 {
		t.Fatal("no testdata/*.ir.yaml cases")
	}
	expected := map[string]bool{}
	for _, c := range cases {
		if c.Case.Error == "" {
			for _, k := range goldenKinds {
				expected[filepath.Join("testdata", c.Name+"."+k+".yaml")] = true
			}
		}
		t.Run(c.Name, func(t *testing.T) { runGolden(t, c.Name, c.Case) })
	}
	checkOrphans(t, expected)
}

func runGolden(t *testing.T, name string, tc *goldenCase) {
	before, err := json.Marshal(&tc.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(&tc.Proxy, tc.Options)
	if after, _ := json.Marshal(&tc.Proxy); string(after) != string(before) {
		t.Errorf("Build changed its input IR")
	}
	if tc.Error != "" {
		if err == nil {
			t.Fatalf("Build succeeded, want an error containing %q", tc.Error)
		}
		if !strings.Contains(err.Error(), tc.Error) {
			t.Fatalf("Build error %q does not contain %q", err, tc.Error)
		}
		return
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	lists := [][]types.Resource{res.Listeners, res.Routes, res.Clusters, res.Endpoints, res.Secrets}
	for i, k := range goldenKinds {
		golden.Check(t, filepath.Join("testdata", name+"."+k+".yaml"), toYAML(t, lists[i]), *update)
	}
}

// checkOrphans fails on output files that no case produces (-update removes
// them).
func checkOrphans(t *testing.T, expected map[string]bool) {
	t.Helper()
	found, err := orphans("testdata", expected)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if *update {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("orphaned golden file %s: no case produces it (go test ./xds/envoy -update removes it)", f)
	}
}

// orphans lists the YAML files of dir that are neither inputs nor expected
// outputs.
func orphans(dir string, expected map[string]bool) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(all)
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".ir.yaml") && !expected[f] {
			out = append(out, f)
		}
	}
	return out, nil
}

func TestOrphanDetection(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.ir.yaml", "a.routes.yaml", "gone.routes.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("[]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := orphans(dir, map[string]bool{filepath.Join(dir, "a.routes.yaml"): true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "gone.routes.yaml")}; !cmp.Equal(got, want) {
		t.Errorf("orphans = %v, want %v", got, want)
	}
}

func readCase(t testing.TB, path string) *goldenCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := parseCase(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tc
}

func parseCase(data []byte) (*goldenCase, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if err := convertFields(raw); err != nil {
		return nil, err
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	tc := &goldenCase{}
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(tc); err != nil {
		return nil, err
	}
	return tc, nil
}

var (
	durationKeys = map[string]bool{"timeout": true, "perTryTimeout": true, "backoff": true, "maxAge": true, "connectTimeout": true}
	bytesKeys    = map[string]bool{"certificate": true, "key": true, "ca": true}
)

// convertFields turns "10s" into nanoseconds and PEM text into base64, the
// JSON forms of time.Duration and []byte.
func convertFields(v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			s, isString := val.(string)
			switch {
			case k == "files":
				// ir.SecretFiles holds paths, not PEM data.
			case isString && durationKeys[k]:
				d, err := time.ParseDuration(s)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				x[k] = int64(d)
			case isString && bytesKeys[k]:
				x[k] = base64.StdEncoding.EncodeToString([]byte(s))
			default:
				if err := convertFields(val); err != nil {
					return err
				}
			}
		}
	case []any:
		for _, e := range x {
			if err := convertFields(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// toYAML renders resources as a YAML list of their protojson forms.
func toYAML(t *testing.T, list []types.Resource) []byte {
	t.Helper()
	items := make([]any, 0, len(list))
	for _, r := range list {
		js, err := protojson.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatal(err)
		}
		items = append(items, v)
	}
	js, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
