package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"k8s.io/apimachinery/pkg/api/meta"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestPipelineProgrammedFollowsServing: a configuration the cache refuses
// to serve makes the Gateway (and its listeners) Programmed=False with
// NotServed and why, instead of the Programmed=True translation computed;
// once it is served again, Programmed=True comes back.
func TestPipelineProgrammedFollowsServing(t *testing.T) {
	res, err := resource.Parse("gw.yaml", []byte(gatewayYAML+"---\n"+routesYAML))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	refuse := true
	var got *translate.Result
	p := newPipeline(pipelineOptions{
		cache: cache.New(cache.Options{Validate: func(map[string][]types.Resource) error {
			if refuse {
				return errors.New("refused for the test")
			}
			return nil
		}}),
		controllerName: translate.DefaultControllerName,
		sink:           func(_ context.Context, r *translate.Result) { got = r },
		log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	p.process(context.Background(), providerEvent{Set: res.Set, ChangedAt: time.Now()})
	gw := got.Status.Gateways[0].Status
	c := meta.FindStatusCondition(gw.Conditions, string(gwapiv1.GatewayConditionProgrammed))
	if c == nil || c.Status != "False" || c.Reason != string(programmed.ReasonNotServed) || !strings.Contains(c.Message, "refused for the test") {
		t.Fatalf("Programmed = %+v, want False/NotServed naming the cause", c)
	}
	for _, l := range gw.Listeners {
		if meta.IsStatusConditionTrue(l.Conditions, string(gwapiv1.ListenerConditionProgrammed)) {
			t.Errorf("listener %s still Programmed=True", l.Name)
		}
	}
	refuse = false
	p.process(context.Background(), providerEvent{Set: res.Set, ChangedAt: time.Now()})
	if !meta.IsStatusConditionTrue(got.Status.Gateways[0].Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)) {
		t.Errorf("served again but Programmed = %+v", got.Status.Gateways[0].Status.Conditions)
	}
}
