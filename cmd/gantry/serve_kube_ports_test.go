package main

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// TestAcceptedListenersFollowTranslation: listeners translation refused (on
// the proxy's own ports) are not handed to the infrastructure.
func TestAcceptedListenersFollowTranslation(t *testing.T) {
	data, err := os.ReadFile("../../gateway/translate/testdata/listener-reserved-port.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse("listener-reserved-port.in.yaml", data)
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	got := acceptedListeners(translate.Translate(res.Set, translate.Options{}))
	want := map[infrakube.ListenerKey]bool{
		{Kind: "Gateway", Namespace: "default", Name: "gw", Listener: "http"}:       true,
		{Kind: "ListenerSet", Namespace: "default", Name: "extra", Listener: "web"}: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accepted listeners (-want +got):\n%s", diff)
	}
}
