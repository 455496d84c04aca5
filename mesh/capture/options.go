// Package capture redirects a pod's TCP traffic to its sidecar proxy: outbound
// connections to the proxy's outbound capture port, inbound connections to its
// inbound capture port, with nftables rules installed in the pod's network
// namespace (the job of `gantry capture`, the injected init container).
//
// Build is pure (options in, rule set out); Install and Remove talk to the
// kernel; OriginalDst reads the destination a redirected connection was
// meant for.
package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// The sidecar pod contract's defaults.
const (
	DefaultProxyUID     = 1337
	DefaultProxyGID     = 1337
	DefaultOutboundPort = 15001
	DefaultInboundPort  = 15006
)

// ProxyPorts are the proxy's own ports (Envoy admin 15000, the capture
// listeners, agent health 15020, metrics 15090, ...): inbound connections to
// them are never captured.
var ProxyPorts = PortRange{First: 15000, Last: 15099}

// Setting is one list as given: Name is where it came from (a flag such as
// "--exclude-outbound-ports" or an annotation), so errors name it.
type Setting struct {
	Name  string
	Value string
}

// Settings are the options as written on the command line or in annotations.
// Lists are comma-separated; "*" means all.
type Settings struct {
	ProxyUID, ProxyGID        uint32
	OutboundPort, InboundPort uint16
	IncludeOutboundCIDRs      Setting
	ExcludeOutboundCIDRs      Setting
	ExcludeOutboundPorts      Setting
	IncludeInboundPorts       Setting
	ExcludeInboundPorts       Setting
}

// listSetting is one comma-separated setting's flag: name, default, help.
type listSetting struct {
	setting       *Setting
	name, def, do string
}

// listSettings is the one ordered list of the comma-separated settings.
func (s *Settings) listSettings() []listSetting {
	return []listSetting{
		{setting: &s.IncludeOutboundCIDRs, name: "include-outbound-cidrs", def: "*", do: `destination CIDRs whose outbound TCP is captured ("*" = all, "" = none)`},
		{setting: &s.ExcludeOutboundCIDRs, name: "exclude-outbound-cidrs", do: "destination CIDRs whose outbound TCP is never captured"},
		{setting: &s.ExcludeOutboundPorts, name: "exclude-outbound-ports", do: "destination ports (or ranges a-b) whose outbound TCP is never captured"},
		{setting: &s.IncludeInboundPorts, name: "include-inbound-ports", def: "*", do: `local ports (or ranges a-b) whose inbound TCP is captured ("*" = all, "" = none)`},
		{setting: &s.ExcludeInboundPorts, name: "exclude-inbound-ports", do: fmt.Sprintf("local ports (or ranges a-b) whose inbound TCP is never captured (the proxy's %s never are)", ProxyPorts)},
	}
}

// AddFlags registers the settings as the flags of `gantry capture`, with the
// sidecar pod contract's names and defaults.
func (s *Settings) AddFlags(fs *pflag.FlagSet) {
	fs.Uint32Var(&s.ProxyUID, "proxy-uid", DefaultProxyUID, "user id of the proxy (and gantry agent): its traffic is never captured")
	fs.Uint32Var(&s.ProxyGID, "proxy-gid", DefaultProxyGID, "group id of the proxy: its traffic is never captured")
	fs.Uint16Var(&s.OutboundPort, "outbound-port", DefaultOutboundPort, "the proxy's outbound capture port")
	fs.Uint16Var(&s.InboundPort, "inbound-port", DefaultInboundPort, "the proxy's inbound capture port")
	for _, l := range s.listSettings() {
		l.setting.Name = "--" + l.name
		fs.StringVar(&l.setting.Value, l.name, l.def, l.do+"; comma-separated")
	}
}

// Options are parsed settings.
type Options struct {
	ProxyUID, ProxyGID        uint32
	OutboundPort, InboundPort uint16
	// IncludeOutbound: destinations captured; All, or only Prefixes.
	IncludeOutbound CIDRs
	ExcludeOutbound []netip.Prefix
	// ExcludeOutboundPorts: destination ports never captured.
	ExcludeOutboundPorts []PortRange
	// IncludeInboundPorts: local ports captured; All, or only Ranges.
	IncludeInboundPorts Ports
	ExcludeInboundPorts []PortRange
}

// CIDRs is a list of prefixes, or all.
type CIDRs struct {
	All      bool
	Prefixes []netip.Prefix
}

// Ports is a list of port ranges, or all.
type Ports struct {
	All    bool
	Ranges []PortRange
}

// PortRange is First..Last inclusive (First == Last for one port).
type PortRange struct{ First, Last uint16 }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Parse checks the settings; every error names the setting and its value.
func Parse(s Settings) (Options, error) {
	o := Options{ProxyUID: s.ProxyUID, ProxyGID: s.ProxyGID, OutboundPort: s.OutboundPort, InboundPort: s.InboundPort}
	if s.ProxyUID == 0 {
		return Options{}, errors.New("--proxy-uid 0: the proxy cannot run as root: root's traffic would escape capture")
	}
	if s.ProxyGID == 0 {
		return Options{}, errors.New("--proxy-gid 0: the proxy cannot run as group root: that group's traffic would escape capture")
	}
	if s.OutboundPort == 0 || s.InboundPort == 0 || s.OutboundPort == s.InboundPort {
		return Options{}, fmt.Errorf("--outbound-port %d, --inbound-port %d: want two different ports 1-65535", s.OutboundPort, s.InboundPort)
	}
	var err error
	if o.IncludeOutbound, err = parseCIDRs(s.IncludeOutboundCIDRs, true); err != nil {
		return Options{}, err
	}
	excl, err := parseCIDRs(s.ExcludeOutboundCIDRs, false)
	if err != nil {
		return Options{}, err
	}
	o.ExcludeOutbound = excl.Prefixes
	ports, err := parsePorts(s.ExcludeOutboundPorts, false)
	if err != nil {
		return Options{}, err
	}
	o.ExcludeOutboundPorts = ports.Ranges
	if o.IncludeInboundPorts, err = parsePorts(s.IncludeInboundPorts, true); err != nil {
		return Options{}, err
	}
	if ports, err = parsePorts(s.ExcludeInboundPorts, false); err != nil {
		return Options{}, err
	}
	o.ExcludeInboundPorts = ports.Ranges
	return o, nil
}

// items splits a comma-separated list; blanks around items are ignored.
func items(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func parseCIDRs(s Setting, allowAll bool) (CIDRs, error) {
	var out CIDRs
	list := items(s.Value)
	for _, it := range list {
		if it == "*" {
			if !allowAll || len(list) > 1 {
				return CIDRs{}, fmt.Errorf(`%s %q: "*" (all) is allowed only alone in an include list`, s.Name, s.Value)
			}
			return CIDRs{All: true}, nil
		}
		p, err := parsePrefix(it)
		if err != nil {
			return CIDRs{}, fmt.Errorf("%s %q: %w", s.Name, s.Value, err)
		}
		if !slices.Contains(out.Prefixes, p) {
			out.Prefixes = append(out.Prefixes, p)
		}
	}
	return out, nil
}

// parsePrefix reads a CIDR, or an address as its host prefix. Host bits must
// be zero: 10.0.0.1/8 is more likely a typo than a wish for 10.0.0.0/8.
func parsePrefix(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", v)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", v)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write an IPv4-mapped prefix as IPv4", v)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (the network is %s)", v, m)
	}
	return p, nil
}

func parsePorts(s Setting, allowAll bool) (Ports, error) {
	var out Ports
	list := items(s.Value)
	for _, it := range list {
		if it == "*" {
			if !allowAll || len(list) > 1 {
				return Ports{}, fmt.Errorf(`%s %q: "*" (all) is allowed only alone in an include list`, s.Name, s.Value)
			}
			return Ports{All: true}, nil
		}
		r, err := parsePortRange(it)
		if err != nil {
			return Ports{}, fmt.Errorf("%s %q: %w", s.Name, s.Value, err)
		}
		if !slices.Contains(out.Ranges, r) {
			out.Ranges = append(out.Ranges, r)
		}
	}
	return out, nil
}

func parsePortRange(v string) (PortRange, error) {
	first, last, isRange := strings.Cut(v, "-")
	a, errA := parsePort(first)
	b, errB := a, error(nil)
	if isRange {
		b, errB = parsePort(last)
	}
	if errA != nil || errB != nil {
		return PortRange{}, fmt.Errorf("%q is not a port (1-65535) or a range of ports (a-b)", v)
	}
	if b < a {
		return PortRange{}, fmt.Errorf("%q: the range ends before it starts", v)
	}
	return PortRange{First: a, Last: b}, nil
}

func parsePort(v string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", v)
	}
	return uint16(n), nil
}
