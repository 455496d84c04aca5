package inject

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Pod annotations that tune traffic capture, each mapped to the flag of
// `gantry capture` of the same name. Values are comma-separated lists.
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
	// 15000-15099 and 15020, never are).
	ExcludeInboundPorts = TrafficPrefix + "exclude-inbound-ports"
)

// Ports of the capture contract (CONTRACTS.md, docs/mesh.md).
const (
	OutboundCapturePort = 15001
	InboundCapturePort  = 15006
)

// valueKind is what a capture annotation holds.
type valueKind int

const (
	cidrList valueKind = iota
	portList
)

// trafficAnnotations is the one ordered list of capture annotations: the
// annotation, the flag of gantry capture, what it holds and whether "*"
// (everything) is allowed.
var trafficAnnotations = []struct {
	annotation, flag string
	kind             valueKind
	star             bool
}{
	{annotation: IncludeOutboundCIDRs, flag: "--include-outbound-cidrs", kind: cidrList, star: true},
	{annotation: ExcludeOutboundCIDRs, flag: "--exclude-outbound-cidrs", kind: cidrList},
	{annotation: ExcludeOutboundPorts, flag: "--exclude-outbound-ports", kind: portList},
	{annotation: IncludeInboundPorts, flag: "--include-inbound-ports", kind: portList, star: true},
	{annotation: ExcludeInboundPorts, flag: "--exclude-inbound-ports", kind: portList},
}

// CaptureArgs returns the arguments of `gantry capture` for a pod with
// these annotations: the proxy's user, group and capture ports, then one
// flag per capture annotation present. A malformed or unknown
// traffic.gantry.io/* annotation is an error naming it.
func CaptureArgs(annotations map[string]string) ([]string, error) {
	args := []string{"capture",
		"--proxy-uid=" + strconv.Itoa(ProxyUID), "--proxy-gid=" + strconv.Itoa(ProxyGID),
		"--outbound-port=" + strconv.Itoa(OutboundCapturePort), "--inbound-port=" + strconv.Itoa(InboundCapturePort)}
	known := map[string]bool{}
	for _, a := range trafficAnnotations {
		known[a.annotation] = true
		raw, ok := annotations[a.annotation]
		if !ok {
			continue
		}
		value, err := parseTrafficValue(raw, a.kind, a.star)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %q: %w", a.annotation, raw, err)
		}
		args = append(args, a.flag+"="+value)
	}
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if strings.HasPrefix(k, TrafficPrefix) && !known[k] {
			return nil, fmt.Errorf("annotation %s: unknown; the capture annotations are %s", k, strings.Join(trafficNames(), ", "))
		}
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

// parseTrafficValue checks a comma-separated list and returns it
// normalised (spaces removed, CIDRs in canonical form).
func parseTrafficValue(raw string, kind valueKind, star bool) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "*" {
		if !star {
			return "", fmt.Errorf(`"*" is not allowed here`)
		}
		return v, nil
	}
	if v == "" {
		return "", fmt.Errorf("empty; remove the annotation for the default")
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		switch kind {
		case cidrList:
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return "", fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or fd00::/8)", item)
			}
			out = append(out, p.Masked().String())
		case portList:
			n, err := strconv.Atoi(item)
			if err != nil || n < 1 || n > 65535 {
				return "", fmt.Errorf("%q is not a port (1-65535)", item)
			}
			out = append(out, strconv.Itoa(n))
		}
	}
	return strings.Join(out, ","), nil
}
