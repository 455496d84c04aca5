package resource

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource/crds"
)

// TestKindsCoverSet fails when a Set field has no kind in the table (or
// two): the table is the one list of kinds.
func TestKindsCoverSet(t *testing.T) {
	byType := map[reflect.Type][]string{}
	for _, k := range kinds {
		byType[reflect.PointerTo(k.typ)] = append(byType[reflect.PointerTo(k.typ)], k.Kind)
	}
	st := reflect.TypeFor[Set]()
	fields := 0
	for i := range st.NumField() {
		f := st.Field(i)
		at, ok := f.Type.MethodByName("At")
		if f.Type.PkgPath() != plistPath || !ok {
			continue
		}
		fields++
		if got := byType[at.Type.Out(0)]; len(got) != 1 {
			t.Errorf("Set.%s (%s) is held by %d kinds of the table %v, want 1: add its entry to kinds in kinds.go", f.Name, f.Type, len(got), got)
		}
	}
	if fields != len(kinds) {
		t.Errorf("Set has %d object lists, the table %d kinds", fields, len(kinds))
	}
}

const plistPath = "github.com/gantryproxy/gantry/internal/plist"

// TestKindsTable checks each entry: unique names, versions, roles, watch
// modes, and, for CRD kinds, that the embedded CRD names the same kind,
// plural, scope and versions.
func TestKindsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range kinds {
		if seen[k.Kind] {
			t.Errorf("kind %s listed twice", k.Kind)
		}
		seen[k.Kind] = true
		if len(k.Versions) == 0 || k.Resource == "" || k.Resource != strings.ToLower(k.Resource) || k.Watch == 0 || k.Role == 0 {
			t.Errorf("kind %s: versions %v, resource %q, watch %d, role %d: every field is required", k.Kind, k.Versions, k.Resource, k.Watch, k.Role)
		}
		if k.Status && k.Watch == WatchNever {
			t.Errorf("kind %s: status written but never watched", k.Kind)
		}
		if !k.CRD {
			continue
		}
		crd := readCRD(t, k.CRDFile())
		scope := apiextensionsv1.ClusterScoped
		if k.Namespaced {
			scope = apiextensionsv1.NamespaceScoped
		}
		if crd.Spec.Group != k.Group || crd.Spec.Names.Kind != k.Kind || crd.Spec.Names.Plural != k.Resource || crd.Spec.Scope != scope {
			t.Errorf("kind %s: table says %s/%s %s, CRD %s says %s/%s %s", k.Kind, k.Group, k.Resource, scope, k.CRDFile(), crd.Spec.Group, crd.Spec.Names.Plural, crd.Spec.Scope)
		}
		var served []string
		for _, v := range crd.Spec.Versions {
			served = append(served, v.Name)
		}
		// Older versions than the CRD's (GRPCRoute v1alpha2) are accepted
		// and validated with its first schema; every version it serves must be.
		for _, v := range served {
			if !slices.Contains(k.Versions, v) {
				t.Errorf("kind %s: %s serves version %s, which the table does not accept (%v)", k.Kind, k.CRDFile(), v, k.Versions)
			}
		}
		if !slices.Contains(served, k.Versions[0]) {
			t.Errorf("kind %s: first version %s is not in %s (%v)", k.Kind, k.Versions[0], k.CRDFile(), served)
		}
	}
}

// TestEveryCRDHasAKind fails when package crds embeds a CRD no kind of the
// table reads.
func TestEveryCRDHasAKind(t *testing.T) {
	files, err := crds.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.ContainsFunc(kinds, func(k KindInfo) bool { return k.CRDFile() == f.Name() }) {
			t.Errorf("crds/%s is embedded but no kind of the table uses it", f.Name())
		}
	}
}

func readCRD(t *testing.T, file string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := crds.FS.ReadFile(file)
	if err != nil {
		t.Fatalf("CRD %s: %v", file, err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatalf("CRD %s: %v", file, err)
	}
	return crd
}

// minimalSpecs holds the smallest valid body of each kind, for
// TestEveryKindLoads.
var minimalSpecs = map[string]string{
	KindGatewayClass:        "spec: {controllerName: example.com/c}",
	KindGateway:             "spec: {gatewayClassName: c, listeners: [{name: l, port: 80, protocol: HTTP}]}",
	KindListenerSet:         "spec: {parentRef: {name: gw}, listeners: [{name: l, port: 80, protocol: HTTP}]}",
	KindHTTPRoute:           "spec: {}",
	KindGRPCRoute:           "spec: {}",
	KindTLSRoute:            "spec: {hostnames: [a.example.com], rules: [{backendRefs: [{name: s, port: 443}]}]}",
	KindTCPRoute:            "spec: {rules: [{backendRefs: [{name: s, port: 80}]}]}",
	KindUDPRoute:            "spec: {rules: [{backendRefs: [{name: s, port: 53}]}]}",
	KindReferenceGrant:      "spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: a}], to: [{group: '', kind: Service}]}",
	KindBackendTLSPolicy:    "spec: {targetRefs: [{group: '', kind: Service, name: s}], validation: {wellKnownCACertificates: System, hostname: s.example.com}}",
	KindService:             "spec: {ports: [{port: 80}]}",
	KindEndpointSlice:       "addressType: IPv4",
	KindSecret:              "type: Opaque",
	KindConfigMap:           "data: {a: b}",
	KindNamespace:           "",
	KindPod:                 "spec: {containers: [{name: c, image: i}]}",
	KindAuthorizationPolicy: "spec: {action: ALLOW}",
	KindXMesh:               "spec: {controllerName: example.com/mesh}",
}

// TestEveryKindLoads loads one object of every kind of the table, in each
// accepted version, and finds it in the Set under its key.
func TestEveryKindLoads(t *testing.T) {
	for _, k := range kinds {
		body, ok := minimalSpecs[k.Kind]
		if !ok {
			t.Errorf("no minimal object of kind %s in minimalSpecs: add one", k.Kind)
			continue
		}
		for _, v := range k.Versions {
			apiVersion := v
			if k.Group != "" {
				apiVersion = k.Group + "/" + v
			}
			doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: x, namespace: ns}\n%s\n", apiVersion, k.Kind, body)
			r, err := Parse("kinds.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Errors) > 0 || len(r.Warnings) > 0 {
				t.Errorf("%s %s: %v %v", k.Kind, v, diagStrings(r.Errors), diagStrings(r.Warnings))
				continue
			}
			want := Key{Kind: k.Kind, Name: "x"}
			if k.Namespaced {
				want.Namespace = "ns"
			}
			objs := r.Set.Objects()
			if len(objs) != 1 || objs[0].Key != want || reflect.TypeOf(objs[0].Value) != reflect.TypeOf(k.New()) {
				t.Errorf("%s %s: Set holds %+v, want one %T keyed %v", k.Kind, v, objs, k.New(), want)
			}
		}
	}
}
