package inject

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gantryproxy/gantry/mesh/capture"
)

// Pod annotations that tune traffic capture, each mapped to the flag of
// `gantry capture` of the same name. Values are comma-separated lists, read
// by capture.Parse exactly as the flags are.
const (
	// TrafficPrefix starts every capture annotation; an unknown one is
	// refused (a typo would otherwise be silently ignored).
	TrafficPrefix = "traffic.gantry.io/"
	// IncludeOutboundCIDRs: CIDRs whose outbound traffic is captured, or
	// "*" (the default: all).
	IncludeOutboundCIDRs = TrafficPrefix + "include-outbound-cidrs"
	// ExcludeOutboundCIDRs: CIDRs whose outbound traffic is not captured.
	ExcludeOutboundCIDRs = TrafficPrefix + "exclude-outbound-cidrs"
	// ExcludeOutboundPorts: destination ports not captured.
	ExcludeOutboundPorts = TrafficPrefix + "exclude-outbound-ports"
	// IncludeInboundPorts: the pod's ports whose inbound traffic is
	// captured, or "*" (the default: all).
	IncludeInboundPorts = TrafficPrefix + "include-inbound-ports"
	// ExcludeInboundPorts: the pod's ports not captured (the proxy's own,
	// 15000-15099, never are).
	ExcludeInboundPorts = TrafficPrefix + "exclude-inbound-ports"
)

// Ports of the sidecar pod contract, as gantry capture defines them.
const (
	OutboundCapturePort = capture.DefaultOutboundPort
	InboundCapturePort  = capture.DefaultInboundPort
)

// trafficAnnotations is the one ordered list of capture annotations: the
// annotation, the flag of gantry capture, its default, and the setting
// capture.Parse checks.
var trafficAnnotations = []struct {
	annotation, flag, def string
	setting               func(s *capture.Settings) *capture.Setting
}{
	{annotation: IncludeOutboundCIDRs, flag: "--include-outbound-cidrs", def: "*", setting: func(s *capture.Settings) *capture.Setting { return &s.IncludeOutboundCIDRs }},
	{annotation: ExcludeOutboundCIDRs, flag: "--exclude-outbound-cidrs", setting: func(s *capture.Settings) *capture.Setting { return &s.ExcludeOutboundCIDRs }},
	{annotation: ExcludeOutboundPorts, flag: "--exclude-outbound-ports", setting: func(s *capture.Settings) *capture.Setting { return &s.ExcludeOutboundPorts }},
	{annotation: IncludeInboundPorts, flag: "--include-inbound-ports", def: "*", setting: func(s *capture.Settings) *capture.Setting { return &s.IncludeInboundPorts }},
	{annotation: ExcludeInboundPorts, flag: "--exclude-inbound-ports", setting: func(s *capture.Settings) *capture.Setting { return &s.ExcludeInboundPorts }},
}

// CaptureArgs returns the arguments of `gantry capture` for a pod with
// these annotations: the proxy's user, group and capture ports, then one
// flag per capture annotation present. A value gantry capture would refuse,
// or an unknown traffic.gantry.io/* annotation, is an error naming it.
func CaptureArgs(annotations map[string]string) ([]string, error) {
	s := capture.Settings{ProxyUID: ProxyUID, ProxyGID: ProxyGID, OutboundPort: OutboundCapturePort, InboundPort: InboundCapturePort}
	args := []string{"capture",
		"--proxy-uid=" + strconv.Itoa(ProxyUID), "--proxy-gid=" + strconv.Itoa(ProxyGID),
		"--outbound-port=" + strconv.Itoa(OutboundCapturePort), "--inbound-port=" + strconv.Itoa(InboundCapturePort)}
	known := map[string]bool{}
	for _, a := range trafficAnnotations {
		known[a.annotation] = true
		setting := a.setting(&s)
		setting.Name, setting.Value = a.annotation, a.def
		if v, ok := annotations[a.annotation]; ok {
			setting.Value = strings.TrimSpace(v)
			args = append(args, a.flag+"="+setting.Value)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if strings.HasPrefix(k, TrafficPrefix) && !known[k] {
			return nil, fmt.Errorf("annotation %s: unknown; the capture annotations are %s", k, strings.Join(trafficNames(), ", "))
		}
	}
	if _, err := capture.Parse(s); err != nil {
		return nil, fmt.Errorf("annotation %w", err)
	}
	return args, nil
}

func trafficNames() []string {
	var out []string
	for _, a := range trafficAnnotations {
		out = append(out, a.annotation)
	}
	return out
}
