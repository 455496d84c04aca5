package ir

import (
	"fmt"
	"net/netip"
	"strings"
)

// Authorization is who may use a filter chain and for what, checked on every
// request (HTTP chains) or connection (TCP chains) before anything else: the
// proxies' RBAC filters.
//
// Deny rules are checked first: a request any of them matches is refused.
// Then every set of Allow, in order: a request must match a rule of each set;
// a set without rules refuses every request. With no Allow set, what no Deny
// rule refuses passes.
type Authorization struct {
	Deny  []AuthzRule    `json:"deny,omitempty"`
	Allow []AuthzRuleSet `json:"allow,omitempty"`
}

// AuthzRuleSet is one stage of allow rules (the policies of one target).
type AuthzRuleSet struct {
	// Name is stable and unique within the Authorization.
	Name  string      `json:"name"`
	Rules []AuthzRule `json:"rules,omitempty"`
	// Destinations, when set, limit the stage to requests sent to these
	// addresses (IPs or CIDRs): the workloads of one target on a listener
	// that serves several. Requests to other addresses pass the stage; with
	// ExceptDestinations it is the other way round.
	Destinations       []string `json:"destinations,omitempty"`
	ExceptDestinations bool     `json:"exceptDestinations,omitempty"`
}

// AuthzRule matches a request when one of its Sources and one of its To
// entries match; an empty list matches anything.
type AuthzRule struct {
	// Name is stable and unique within its list ("<ns>/<policy>/rule/<i>").
	Name    string         `json:"name"`
	Sources []AuthzSource  `json:"sources,omitempty"`
	To      []AuthzRequest `json:"to,omitempty"`
	// Destinations, when set, limit the rule to requests sent to these
	// addresses (IPs or CIDRs).
	Destinations []string `json:"destinations,omitempty"`
}

// AuthzSource is who sends the request. Exactly one field is set.
type AuthzSource struct {
	// Principal matches a subject alt name of the peer's verified client
	// certificate (its URIs, or its DNS names when it has no URI).
	Principal *NameMatch `json:"principal,omitempty"`
	// Authenticated matches any peer with a verified client certificate.
	Authenticated bool `json:"authenticated,omitempty"`
	// CIDR matches the peer's address ("10.0.0.0/8", "2001:db8::/32").
	CIDR string `json:"cidr,omitempty"`
	// Never matches nothing: a source that cannot be verified where the
	// rule is enforced (fail closed).
	Never bool `json:"never,omitempty"`
}

// NameMatch compares a name exactly or by prefix.
type NameMatch struct {
	Type  StringMatchType `json:"type"` // MatchExact or MatchPrefix
	Value string          `json:"value"`
}

// AuthzRequest is what is asked for; a request matches when it matches every
// non-empty list (one entry of each).
type AuthzRequest struct {
	// Paths are exact paths or segment-aware prefixes (PathExact,
	// PathPrefix): "/api" matches "/api" and "/api/x", not "/apix".
	Paths   []AuthzPath `json:"paths,omitempty"`
	Methods []string    `json:"methods,omitempty"`
	// Headers must all match.
	Headers []StringMatch `json:"headers,omitempty"`
	// Ports are destination ports.
	Ports []uint32 `json:"ports,omitempty"`
}

// AuthzPath is one path condition.
type AuthzPath struct {
	Type  PathMatchType `json:"type"`
	Value string        `json:"value"`
}

// HTTPOnly reports whether r names anything only HTTP carries (paths,
// methods, headers), which a TCP chain cannot check.
func (r *AuthzRequest) HTTPOnly() bool {
	return len(r.Paths) > 0 || len(r.Methods) > 0 || len(r.Headers) > 0
}

// Check returns the first part of a that a proxy would refuse.
func (a *Authorization) Check() error {
	for i := range a.Deny {
		if err := a.Deny[i].check(); err != nil {
			return fmt.Errorf("deny[%d] %s: %w", i, a.Deny[i].Name, err)
		}
	}
	names := map[string]bool{}
	for i, set := range a.Allow {
		if set.Name == "" || names[set.Name] {
			return fmt.Errorf("allow[%d]: empty or duplicate name %q", i, set.Name)
		}
		names[set.Name] = true
		if err := checkAddresses(set.Destinations); err != nil {
			return fmt.Errorf("allow[%d] %s: destinations: %w", i, set.Name, err)
		}
		if set.ExceptDestinations && len(set.Destinations) == 0 {
			return fmt.Errorf("allow[%d] %s: exceptDestinations without destinations", i, set.Name)
		}
		for j := range set.Rules {
			if err := set.Rules[j].check(); err != nil {
				return fmt.Errorf("allow[%d].rules[%d] %s: %w", i, j, set.Rules[j].Name, err)
			}
		}
	}
	return nil
}

// checkAddresses accepts IPs and CIDRs.
func checkAddresses(list []string) error {
	for _, a := range list {
		if _, err := ParseAddressRange(a); err != nil {
			return err
		}
	}
	return nil
}

// ParseAddressRange reads an IP ("10.0.0.1", a /32 or /128) or a CIDR.
func ParseAddressRange(a string) (netip.Prefix, error) {
	if ip, err := netip.ParseAddr(a); err == nil {
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(a)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP nor a CIDR", a)
	}
	return p, nil
}

func (r *AuthzRule) check() error {
	if err := checkAddresses(r.Destinations); err != nil {
		return fmt.Errorf("destinations: %w", err)
	}
	for i, s := range r.Sources {
		if err := s.check(); err != nil {
			return fmt.Errorf("sources[%d]: %w", i, err)
		}
	}
	for i, to := range r.To {
		for _, p := range to.Paths {
			if (p.Type != PathExact && p.Type != PathPrefix) || CheckPath(p.Value) != nil {
				return fmt.Errorf("to[%d]: path %s %q: want Exact or Prefix and a path starting with / without ?, # or spaces", i, p.Type, p.Value)
			}
		}
		for _, m := range to.Methods {
			if err := CheckHeaderName(m); err != nil {
				return fmt.Errorf("to[%d]: method: %w", i, err)
			}
		}
		for _, h := range to.Headers {
			if err := CheckHeaderName(h.Name); err != nil {
				return fmt.Errorf("to[%d]: %w", i, err)
			}
			if err := h.checkValue(); err != nil {
				return fmt.Errorf("to[%d]: header %s: %w", i, h.Name, err)
			}
		}
		for _, p := range to.Ports {
			if p == 0 || p > 65535 {
				return fmt.Errorf("to[%d]: port %d: want 1-65535", i, p)
			}
		}
	}
	return nil
}

func (s AuthzSource) check() error {
	n := 0
	for _, set := range []bool{s.Principal != nil, s.Authenticated, s.CIDR != "", s.Never} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one of principal, authenticated, cidr and never")
	}
	if s.CIDR != "" {
		if _, err := netip.ParsePrefix(s.CIDR); err != nil {
			return fmt.Errorf("cidr: %w", err)
		}
	}
	if p := s.Principal; p != nil {
		if (p.Type != MatchExact && p.Type != MatchPrefix) || p.Value == "" || strings.ContainsAny(p.Value, "\r\n\x00") {
			return fmt.Errorf("principal %s %q: want Exact or Prefix and a non-empty name", p.Type, p.Value)
		}
	}
	return nil
}
