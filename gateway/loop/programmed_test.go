package loop

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
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
	p := New(Options{
		Cache: cache.New(cache.Options{Validate: func(map[string][]types.Resource) error {
			if refuse {
				return errors.New("refused for the test")
			}
			return nil
		}}),
		ControllerName: translate.DefaultControllerName,
		Sink:           func(_ context.Context, r *translate.Result) { got = r },
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	p.process(context.Background(), Event{Set: res.Set, ChangedAt: time.Now()})
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
	p.process(context.Background(), Event{Set: res.Set, ChangedAt: time.Now()})
	if !meta.IsStatusConditionTrue(got.Status.Gateways[0].Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)) {
		t.Errorf("served again but Programmed = %+v", got.Status.Gateways[0].Status.Conditions)
	}
}

// TestPipelineProgrammedFollowsNACKs: a proxy's rejection makes the
// Gateway Programmed=False with Rejected, naming the node, the type and the
// error, both on the next translation and when the pipeline re-publishes
// on a NACK change without translating; once the rejection is gone,
// re-publishing brings Programmed=True back.
func TestPipelineProgrammedFollowsNACKs(t *testing.T) {
	res, err := resource.Parse("gw.yaml", []byte(gatewayYAML+"---\n"+routesYAML))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	var got *translate.Result
	var rejections []server.Rejection
	p := New(Options{
		Cache:          cache.New(cache.Options{}),
		ControllerName: translate.DefaultControllerName,
		Sink:           func(_ context.Context, r *translate.Result) { got = r },
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	p.UseServer(fakeServer{rejections: func() []server.Rejection { return rejections }})
	programmedIs := func(what string, rejected bool) {
		t.Helper()
		c := meta.FindStatusCondition(got.Status.Gateways[0].Status.Conditions, string(gwapiv1.GatewayConditionProgrammed))
		if !rejected {
			if c == nil || c.Status != "True" {
				t.Fatalf("%s: Programmed = %+v, want True", what, c)
			}
			return
		}
		if c == nil || c.Status != "False" || c.Reason != string(programmed.ReasonRejected) ||
			!strings.Contains(c.Message, `"envoy-1"`) || !strings.Contains(c.Message, "RouteConfiguration") || !strings.Contains(c.Message, "bad regex") {
			t.Fatalf("%s: Programmed = %+v, want False/Rejected naming node, type and error", what, c)
		}
		for _, l := range got.Status.Gateways[0].Status.Listeners {
			if meta.IsStatusConditionTrue(l.Conditions, string(gwapiv1.ListenerConditionProgrammed)) {
				t.Errorf("%s: listener %s still Programmed=True", what, l.Name)
			}
		}
	}
	ctx := context.Background()
	p.process(ctx, Event{Set: res.Set, ChangedAt: time.Now()})
	programmedIs("no rejection", false)

	rejections = []server.Rejection{{Group: "gateway/default/gw", Node: "envoy-1",
		TypeURL: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", Version: "1", Error: "bad regex"}}
	p.republish(ctx)
	programmedIs("re-published after a NACK", true)
	p.process(ctx, Event{Set: res.Set, ChangedAt: time.Now()})
	programmedIs("translated while rejected", true)

	rejections = nil
	p.republish(ctx)
	programmedIs("re-published after the rejection ended", false)
}

// TestStampLeavesThePiecesAlone: what the loop publishes may be stamped
// (the file provider stamps transition times into copies of the lists it
// replaces), yet the pieces the next batch reuses stay the pure
// translation.
func TestStampLeavesThePiecesAlone(t *testing.T) {
	res, err := resource.Parse("gw.yaml", []byte(gatewayYAML+"---\n"+routesYAML))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	stamped := func(conds *[]metav1.Condition) {
		out := slices.Clone(*conds)
		for i := range out {
			out[i].Message = "stamped"
		}
		*conds = out
	}
	p := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName,
		Stamp: func(r *status.Report) {
			r.GatewayClasses = slices.Clone(r.GatewayClasses)
			for i := range r.GatewayClasses {
				stamped(&r.GatewayClasses[i].Status.Conditions)
			}
			for i := range r.Gateways {
				stamped(&r.Gateways[i].Status.Conditions)
			}
			r.Routes = slices.Clone(r.Routes)
			for i := range r.Routes {
				r.Routes[i].Parents = slices.Clone(r.Routes[i].Parents)
				for j := range r.Routes[i].Parents {
					stamped(&r.Routes[i].Parents[j].Conditions)
				}
			}
		}})
	p.process(context.Background(), Event{Set: res.Set, ChangedAt: time.Now()})
	got, _ := json.Marshal(p.pieces.edge)
	want, _ := json.Marshal(translate.Translate(res.Set, translate.Options{}))
	if string(got) != string(want) {
		t.Errorf("the stamp reached the pieces:\n%s\nwant\n%s", got, want)
	}
	if pub, _ := json.Marshal(p.State().Result.Status); !strings.Contains(string(pub), "stamped") {
		t.Error("the published status was not stamped")
	}
}
