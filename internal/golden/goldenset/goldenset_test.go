package goldenset

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantryproxy/gantry/internal/golden"
)

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.in.yaml")
	data := "# namespaces: a, b\napiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  ports: [{port: 9080}]\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	res, header := Load(t, path)
	if res.Set.Services.Len() != 1 || res.Set.Services.At(0).Namespace != "default" || res.Set.Services.At(0).Name != "reviews" {
		t.Errorf("services = %+v", res.Set.Services.Slice())
	}
	for k, src := range res.Set.Sources {
		if src.File != "svc.in.yaml" {
			t.Errorf("source of %v = %q, want the base name svc.in.yaml", k, src.File)
		}
	}
	if len(res.Set.Sources) == 0 {
		t.Error("no sources recorded")
	}
	if d := cmp.Diff([]golden.Field{{Key: "namespaces", Value: "a, b"}}, header); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
}
