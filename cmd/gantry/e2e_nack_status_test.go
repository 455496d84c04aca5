package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/status"
)

// TestE2ENACKTurnsProgrammedFalse: a connected proxy of the quickstart
// Gateway rejects its listeners; the Gateway and its listeners become
// Programmed=False with reason Rejected, naming the node, the type and
// Envoy's error, on /status too; when the node disconnects the rejection is
// gone. (No Envoy runs on the test's host, so Programmed is otherwise
// False/NoResources: the test checks the reason.)
func TestE2ENACKTurnsProgrammedFalse(t *testing.T) {
	e := startQuickstart(t)
	programmedIs := func(rejected bool, contains ...string) {
		t.Helper()
		want, wantReason := metav1.ConditionFalse, string(gwapiv1.GatewayReasonNoResources)
		if rejected {
			wantReason = string(programmed.ReasonRejected)
		}
		retryFor(t, 10*time.Second, "quickstart Programmed reason "+wantReason, func() error {
			v := e.cp.loop.State()
			res, ready := v.Result, v.Ready
			if !ready || res == nil {
				return fmt.Errorf("no result yet")
			}
			for _, g := range res.Status.Gateways {
				if g.Namespace+"/"+g.Name != "default/quickstart" {
					continue
				}
				c := status.FindCondition(g.Status.Conditions, gwapiv1.GatewayConditionProgrammed)
				if c == nil || c.Status != want {
					return fmt.Errorf("Programmed = %+v", c)
				}
				for _, s := range contains {
					if !strings.Contains(c.Message, s) {
						return fmt.Errorf("message %q lacks %q", c.Message, s)
					}
				}
				if c.Reason != wantReason {
					return fmt.Errorf("reason %s, want %s", c.Reason, wantReason)
				}
				for _, l := range g.Status.Listeners {
					lc := status.FindCondition(l.Conditions, gwapiv1.ListenerConditionProgrammed)
					if lc == nil || lc.Status != want || rejected != (lc.Reason == string(programmed.ReasonRejected)) {
						return fmt.Errorf("listener %s Programmed = %+v", l.Name, lc)
					}
				}
				return nil
			}
			return fmt.Errorf("no status of default/quickstart")
		})
	}
	programmedIs(false)
	rawADS(t, e.cp.xdsLn.Addr().String(), "accepting-envoy", quickstartGroup, "")
	disconnect := rawADSStream(t, e.cp.xdsLn.Addr().String(), "nacking-envoy", quickstartGroup, "unknown filter envoy.filters.http.nope")
	programmedIs(true, `"nacking-envoy"`, "Listener", "unknown filter envoy.filters.http.nope")
	code, body := httpGet(t, "http://"+e.cp.adminLn.Addr().String()+"/status")
	if code != http.StatusOK || !strings.Contains(body, "nacking-envoy") || !strings.Contains(body, string(programmed.ReasonRejected)) {
		t.Errorf("/status (%d) does not report the rejection:\n%s", code, body)
	}
	disconnect()
	programmedIs(false)
}
