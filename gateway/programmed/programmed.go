// Package programmed keeps the Programmed condition truthful: a Gateway
// (and its listeners) is Programmed=True only when the xDS configuration
// translated for it was built, validated, fits in the messages its proxies
// receive, and was handed to the xDS cache, and no connected proxy of it
// rejected it. `gantry serve` marks a Gateway whose configuration failed one
// of those steps (its proxies keep the last good configuration); `gantry
// analyze` runs the same build offline.
package programmed

import (
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Reasons of Programmed=False that Gantry sets after translation.
const (
	// ReasonBuildFailed: the configuration did not build or validate.
	ReasonBuildFailed gwapiv1.GatewayConditionReason = "BuildFailed"
	// ReasonTooLarge: one resource type is larger than an xDS message.
	ReasonTooLarge gwapiv1.GatewayConditionReason = "ConfigurationTooLarge"
	// ReasonNotServed: the xDS cache refused the configuration.
	ReasonNotServed gwapiv1.GatewayConditionReason = "NotServed"
	// ReasonRejected: a connected proxy rejected (NACKed) the configuration.
	ReasonRejected gwapiv1.GatewayConditionReason = "Rejected"
)

// maxDetail bounds how much of a proxy's error detail a message quotes.
const maxDetail = 512

// Rejected marks the Gateway of group Programmed=False because node
// rejected the resources of type typ with detail; others counts the other
// rejections of the group that the message does not name.
func Rejected(rep *status.Report, group, node, typ, detail string, others int) {
	if len(detail) > maxDetail {
		detail = strings.ToValidUTF8(detail[:maxDetail], "") + "…"
	}
	msg := fmt.Sprintf("proxy %q rejected the %s resources: %s", node, typ, detail)
	if others > 0 {
		msg += fmt.Sprintf(" (and %d more rejections)", others)
	}
	Mark(rep, group, ReasonRejected, msg)
}

// Build builds px for flavor and checks that every resource type fits in
// one response. The error says why the proxy's configuration cannot be
// served; Reason maps it to a condition reason.
func Build(px *ir.Proxy, flavor envoy.Flavor) (*envoy.Resources, error) {
	out, err := envoy.Build(px, envoy.Options{Flavor: flavor})
	if err != nil {
		return nil, err
	}
	if err := envoy.CheckSize(out, envoy.MaxResponseBytes(flavor)); err != nil {
		return nil, fmt.Errorf("proxy %s (%s): %w", px.Name, flavor, err)
	}
	return out, nil
}

// Builder builds one proxy group's configuration for one flavor again and
// again, as Build does, at the cost of what changed since its previous
// build (xds/envoy.Builder).
type Builder struct {
	flavor envoy.Flavor
	memo   *envoy.Builder
}

// NewBuilder returns a Builder for flavor.
func NewBuilder(flavor envoy.Flavor) *Builder {
	return &Builder{flavor: flavor, memo: envoy.NewBuilder(flavor)}
}

// Build is Build(px, the builder's flavor).
func (b *Builder) Build(px *ir.Proxy) (*envoy.Resources, error) {
	out, err := b.memo.Build(px)
	if err != nil {
		return nil, err
	}
	if err := b.memo.CheckSize(out, envoy.MaxResponseBytes(b.flavor)); err != nil {
		return nil, fmt.Errorf("proxy %s (%s): %w", px.Name, b.flavor, err)
	}
	return out, nil
}

// Reason is the Programmed=False reason for an error of Build.
func Reason(err error) gwapiv1.GatewayConditionReason {
	var tooLarge *envoy.TooLargeError
	if errors.As(err, &tooLarge) {
		return ReasonTooLarge
	}
	return ReasonBuildFailed
}

// Check builds every proxy of res (both flavors) as `gantry serve` would
// and marks the Gateways whose configuration cannot be served.
func Check(res *translate.Result) {
	for _, px := range res.Proxies {
		for _, f := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
			if _, err := Build(px, f); err != nil {
				Mark(res.Status, px.Name, Reason(err), err.Error())
				break
			}
		}
	}
}

// Mark sets Programmed=False with reason and message on the Gateway whose
// proxy group is group, and on each of its listeners that was programmed.
// A group that is no Gateway's (a mesh group) changes nothing.
func Mark(rep *status.Report, group string, reason gwapiv1.GatewayConditionReason, msg string) {
	msg = "the proxies keep their previous configuration: " + msg
	for i := range rep.Gateways {
		g := &rep.Gateways[i]
		if translate.ProxyName(g.Namespace, g.Name) != group {
			continue
		}
		g.Status.Conditions = status.SetCondition(g.Status.Conditions,
			status.Condition(gwapiv1.GatewayConditionProgrammed, false, reason, msg, g.Generation))
		for j := range g.Status.Listeners {
			l := &g.Status.Listeners[j]
			if c := status.FindCondition(l.Conditions, gwapiv1.ListenerConditionProgrammed); c != nil && c.Status == metav1.ConditionTrue {
				l.Conditions = status.SetCondition(l.Conditions,
					status.Condition(gwapiv1.ListenerConditionProgrammed, false, gwapiv1.ListenerConditionReason(reason), msg, g.Generation))
			}
		}
	}
}
