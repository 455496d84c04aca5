package conformance

// The bookinfo walkthrough's mesh steps (examples/bookinfo/mesh) through
// the proxyless data path: gantry serve on the example's files, echo
// backends standing in for reviews v1, v2 and v3, and grpc-go's xDS client
// as a client of the bookinfo namespace dialling reviews:9080.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/internal/echo"
)

const bookinfoDir = "../../examples/bookinfo"

func TestBookinfoReviewsProxyless(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"00-namespace.yaml", "10-bookinfo.yaml", "20-gateway.yaml", "mesh/10-reviews-versions.yaml"} {
		data, err := os.ReadFile(filepath.Join(bookinfoDir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, filepath.Base(f)), string(data))
	}
	var slices []string
	for _, v := range []string{"v1", "v2", "v3"} {
		s, err := echo.Listen("127.0.0.1:0", "reviews-"+v)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		_, port, _ := strings.Cut(s.Addr(), ":")
		for _, svc := range []string{"reviews", "reviews-" + v} {
			slices = append(slices, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-%[2]s, namespace: bookinfo, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: %[3]s}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]`, svc, v, port))
		}
	}
	writeFile(t, filepath.Join(dir, "endpoints.yaml"), strings.Join(slices, "\n---\n"))
	// Each step replaces the previous one's route (the README applies the
	// new route, then deletes the old).
	step := func(name string) {
		data, err := os.ReadFile(filepath.Join(bookinfoDir, "mesh", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "reviews-route.yaml"), string(data))
	}
	step("route-1-all-v1.yaml")
	e := &meshEnv{t: t, dir: dir, xds: startGantryFile(t, dir)}
	conn := e.clientOf("bookinfo", "bookinfo", "reviews", 9080)

	t.Run("all to v1", func(t *testing.T) { expectNamed(t, conn, nil, "reviews-v1") })
	t.Run("jason to v2", func(t *testing.T) {
		step("route-2-jason-v2.yaml")
		expectNamed(t, conn, []string{"end-user", "jason"}, "reviews-v2")
		expectNamed(t, conn, []string{"end-user", "alice"}, "reviews-v1")
		expectNamed(t, conn, nil, "reviews-v1")
	})
	t.Run("half to v3", func(t *testing.T) {
		step("route-3-half-v3.yaml")
		eventually(t, "the split in effect", func() error {
			if c := backendCounts(conn, 40, "/reviews/0"); c["reviews-v3"] == 0 || c["reviews-v1"]+c["reviews-v3"] != 40 {
				return fmt.Errorf("answers %v, want reviews-v1 and reviews-v3", c)
			}
			return nil
		})
		// 400 calls at p=0.5: standard deviation 10; 120..280 is ±8 sigma.
		c := backendCounts(conn, 400, "/reviews/0")
		if v3 := c["reviews-v3"]; v3 < 120 || v3 > 280 || v3+c["reviews-v1"] != 400 {
			t.Fatalf("split %v, want about 200/200 between reviews-v1 and reviews-v3 only", c)
		}
	})
	t.Run("all to v3", func(t *testing.T) {
		step("route-4-all-v3.yaml")
		expectNamed(t, conn, []string{"end-user", "jason"}, "reviews-v3")
		expectNamed(t, conn, nil, "reviews-v3")
	})
}

// expectNamed waits until calls with headers are answered by the backend
// named name, once 10 calls in a row are, then
// checks 10 more are.
func expectNamed(t *testing.T, conn callConn, headers []string, name string) {
	t.Helper()
	check := func() error {
		got, err := call(conn, "/reviews/0", headers...)
		if err != nil {
			return err
		}
		if got.Name != name {
			return fmt.Errorf("%v answered by %s, want %s", headers, got.Name, name)
		}
		return nil
	}
	// In effect once 10 calls in a row agree (a step replacing a split
	// may answer right by chance), then 10 more must.
	eventually(t, "route in effect", func() error {
		for range 10 {
			if err := check(); err != nil {
				return err
			}
		}
		return nil
	})
	for range 10 {
		if err := check(); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
