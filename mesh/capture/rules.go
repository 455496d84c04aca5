package capture

import (
	"fmt"
	"net/netip"
	"strings"
)

// TableName is the nftables table (one per address family) that Install
// owns: re-installing replaces it whole, Remove deletes it.
const TableName = "gantry_capture"

// Family is an nftables address family.
type Family string

const (
	IPv4 Family = "ip"
	IPv6 Family = "ip6"
)

// Families in the order they are installed and printed.
var Families = []Family{IPv4, IPv6}

// Hook is where a chain runs: nat output (locally made connections) or nat
// prerouting (connections arriving from the network).
type Hook string

const (
	HookOutput     Hook = "output"
	HookPrerouting Hook = "prerouting"
)

// RuleSet is what Install puts in the kernel: one table per family.
type RuleSet struct{ Tables []Table }

// Table is the capture table of one family.
type Table struct {
	Family Family
	Chains []Chain
}

// Chain is a nat base chain (priority -100, policy accept): its rules run
// in order and the first verdict ends it.
type Chain struct {
	Name  string
	Hook  Hook
	Rules []Rule
}

// Rule is one rule of a chain: when every match holds, the verdict applies.
type Rule struct {
	Matches []Match
	// RedirectPort is 0 for "return" (not captured), else the local port the
	// connection is redirected to.
	RedirectPort uint16
	Comment      string
}

// MatchKind says what a Match compares.
type MatchKind int

const (
	MatchNotTCP      MatchKind = iota // the layer 4 protocol is not TCP
	MatchSocketUID                    // the sending socket's owner is ID
	MatchSocketGID                    // the sending socket's group is ID
	MatchOutLoopback                  // the packet leaves through lo
	MatchInLoopback                   // the packet arrived through lo
	MatchDestCIDR                     // the destination address is in Prefix
	MatchDestPort                     // the TCP destination port is in Ports (each chain returns non-TCP first)
)

// Match is one condition of a rule.
type Match struct {
	Kind   MatchKind
	ID     uint32
	Prefix netip.Prefix
	Ports  PortRange
}

// The chains' names.
const (
	OutboundChain = "outbound"
	InboundChain  = "inbound"
)

// Build computes the rules for o: the same model in both families, each
// holding the CIDRs of its own family.
func Build(o Options) RuleSet {
	var rs RuleSet
	for _, f := range Families {
		rs.Tables = append(rs.Tables, Table{Family: f, Chains: []Chain{
			{Name: OutboundChain, Hook: HookOutput, Rules: outboundRules(o, f)},
			{Name: InboundChain, Hook: HookPrerouting, Rules: inboundRules(o)},
		}})
	}
	return rs
}

// ret is a rule that leaves the chain (the connection is not captured).
func ret(comment string, m ...Match) Rule { return Rule{Matches: m, Comment: comment} }

func outboundRules(o Options, f Family) []Rule {
	rules := []Rule{
		ret("only TCP is captured", Match{Kind: MatchNotTCP}),
		ret("the proxy user: its own and forwarded connections, xDS", Match{Kind: MatchSocketUID, ID: o.ProxyUID}),
		ret("the proxy group", Match{Kind: MatchSocketGID, ID: o.ProxyGID}),
		ret("loopback: the application talking to itself", Match{Kind: MatchOutLoopback}),
	}
	for _, r := range o.ExcludeOutboundPorts {
		rules = append(rules, ret("excluded outbound port", Match{Kind: MatchDestPort, Ports: r}))
	}
	for _, p := range o.ExcludeOutbound {
		if familyOf(p) == f {
			rules = append(rules, ret("excluded outbound CIDR", Match{Kind: MatchDestCIDR, Prefix: p}))
		}
	}
	redirect := func(m ...Match) Rule {
		return Rule{Matches: m, RedirectPort: o.OutboundPort, Comment: "to the proxy's outbound capture port"}
	}
	if o.IncludeOutbound.All {
		return append(rules, redirect())
	}
	for _, p := range o.IncludeOutbound.Prefixes {
		if familyOf(p) == f {
			rules = append(rules, redirect(Match{Kind: MatchDestCIDR, Prefix: p}))
		}
	}
	return rules
}

func inboundRules(o Options) []Rule {
	rules := []Rule{
		ret("only TCP is captured", Match{Kind: MatchNotTCP}),
		ret("loopback", Match{Kind: MatchInLoopback}),
		ret("the proxy's own ports", Match{Kind: MatchDestPort, Ports: ProxyPorts}),
	}
	for _, p := range []uint16{o.OutboundPort, o.InboundPort} {
		if p < ProxyPorts.First || p > ProxyPorts.Last {
			rules = append(rules, ret("the proxy's capture port", Match{Kind: MatchDestPort, Ports: PortRange{First: p, Last: p}}))
		}
	}
	for _, r := range o.ExcludeInboundPorts {
		rules = append(rules, ret("excluded inbound port", Match{Kind: MatchDestPort, Ports: r}))
	}
	redirect := func(m ...Match) Rule {
		return Rule{Matches: m, RedirectPort: o.InboundPort, Comment: "to the proxy's inbound capture port"}
	}
	if o.IncludeInboundPorts.All {
		return append(rules, redirect())
	}
	for _, r := range o.IncludeInboundPorts.Ranges {
		rules = append(rules, redirect(Match{Kind: MatchDestPort, Ports: r}))
	}
	return rules
}

func familyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

// String prints the rule set in nft's syntax (what `nft list table` shows,
// comments aside), for --dry-run and golden tests.
func (rs RuleSet) String() string {
	var b strings.Builder
	for _, t := range rs.Tables {
		fmt.Fprintf(&b, "table %s %s {\n", t.Family, TableName)
		for _, c := range t.Chains {
			fmt.Fprintf(&b, "\tchain %s {\n\t\ttype nat hook %s priority dstnat; policy accept;\n", c.Name, c.Hook)
			for _, r := range c.Rules {
				fmt.Fprintf(&b, "\t\t%s\n", r.text(t.Family))
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func (r Rule) text(f Family) string {
	var parts []string
	for _, m := range r.Matches {
		parts = append(parts, m.text(f))
	}
	if r.RedirectPort == 0 {
		parts = append(parts, "return")
	} else {
		parts = append(parts, fmt.Sprintf("meta l4proto tcp redirect to :%d", r.RedirectPort))
	}
	return fmt.Sprintf("%s comment %q", strings.Join(parts, " "), r.Comment)
}

func (m Match) text(f Family) string {
	switch m.Kind {
	case MatchNotTCP:
		return "meta l4proto != tcp"
	case MatchSocketUID:
		return fmt.Sprintf("meta skuid %d", m.ID)
	case MatchSocketGID:
		return fmt.Sprintf("meta skgid %d", m.ID)
	case MatchOutLoopback:
		return `oifname "lo"`
	case MatchInLoopback:
		return `iifname "lo"`
	case MatchDestCIDR:
		return fmt.Sprintf("%s daddr %s", f, m.Prefix)
	case MatchDestPort:
		return fmt.Sprintf("tcp dport %s", m.Ports)
	}
	return fmt.Sprintf("unknown match %d", m.Kind)
}
