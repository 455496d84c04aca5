package capture

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"
	"github.com/spf13/pflag"

	"github.com/gantryproxy/gantry/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*.nft from the current output")

// buildFromArgs parses args as the flags of `gantry capture` and builds the
// rule set.
func buildFromArgs(args []string) (RuleSet, error) {
	var s Settings
	fs := pflag.NewFlagSet("capture", pflag.ContinueOnError)
	s.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return RuleSet{}, err
	}
	o, err := Parse(s)
	if err != nil {
		return RuleSet{}, err
	}
	return Build(o), nil
}

// TestGolden: testdata/<case>.flags holds the flags (one per line), and
// <case>.nft the rule set they give.
func TestGolden(t *testing.T) {
	cases := golden.Cases(t, "testdata", ".flags")
	if len(cases) == 0 {
		t.Fatal("no testdata/*.flags")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(c.Path)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := buildFromArgs(strings.Fields(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range rs.Tables { // every rule encodes
				for _, ch := range tb.Chains {
					for _, r := range ch.Rules {
						if _, err := r.exprs(tb.Family); err != nil {
							t.Errorf("%s %s: %v", tb.Family, ch.Name, err)
						}
					}
				}
			}
			golden.Check(t, filepath.Join("testdata", c.Name+".nft"), []byte(rs.String()), *update)
		})
	}
	golden.CheckOrphans(t, "testdata", ".flags", ".nft")
}

// TestParseErrors: every error names the setting and its value.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--exclude-outbound-ports=80,http"}, []string{`--exclude-outbound-ports "80,http"`, `"http" is not a port`}},
		{[]string{"--exclude-outbound-ports=0"}, []string{`--exclude-outbound-ports "0"`}},
		{[]string{"--exclude-inbound-ports=9000-8000"}, []string{`--exclude-inbound-ports "9000-8000"`, "ends before it starts"}},
		{[]string{"--include-inbound-ports=*,80"}, []string{`--include-inbound-ports "*,80"`, "only alone"}},
		{[]string{"--exclude-inbound-ports=*"}, []string{`--exclude-inbound-ports "*"`, "include list"}},
		{[]string{"--exclude-outbound-cidrs=*"}, []string{`--exclude-outbound-cidrs "*"`}},
		{[]string{"--include-outbound-cidrs=10.0.0.1/8"}, []string{`--include-outbound-cidrs "10.0.0.1/8"`, "host bits", "10.0.0.0/8"}},
		{[]string{"--exclude-outbound-cidrs=10.0.0.0/33"}, []string{`--exclude-outbound-cidrs "10.0.0.0/33"`, "not a CIDR"}},
		{[]string{"--exclude-outbound-cidrs=example.com"}, []string{`"example.com" is not an IP address`}},
		{[]string{"--exclude-outbound-cidrs=::ffff:10.0.0.0/104"}, []string{"IPv4-mapped"}},
		{[]string{"--proxy-uid=0"}, []string{"--proxy-uid 0", "root"}},
		{[]string{"--proxy-gid=0"}, []string{"--proxy-gid 0", "root"}},
		{[]string{"--outbound-port=15006"}, []string{"--outbound-port 15006, --inbound-port 15006"}},
	} {
		_, err := buildFromArgs(c.args)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not contain %q", c.args, err, w)
			}
		}
	}
}

// TestParseLists: blanks, duplicates, bare addresses, "" and "*".
func TestParseLists(t *testing.T) {
	var s Settings
	s.AddFlags(pflag.NewFlagSet("x", pflag.ContinueOnError))
	s.ProxyUID, s.ProxyGID, s.OutboundPort, s.InboundPort = 1, 2, 15001, 15006
	s.IncludeOutboundCIDRs.Value = " 10.0.0.0/8 , 10.0.0.0/8,fd00::1,192.168.1.1 "
	s.ExcludeOutboundPorts.Value = "53, 8000-8100,53"
	s.IncludeInboundPorts.Value = ""
	o, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		ProxyUID: 1, ProxyGID: 2, OutboundPort: 15001, InboundPort: 15006,
		IncludeOutbound:      CIDRs{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::1/128"), netip.MustParsePrefix("192.168.1.1/32")}},
		ExcludeOutboundPorts: []PortRange{{First: 53, Last: 53}, {First: 8000, Last: 8100}},
	}
	if d := cmp.Diff(want, o, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if rs := Build(o); len(rs.Tables[0].Chains[1].Rules) != 3 {
		t.Errorf("include-inbound-ports \"\": want no inbound redirect, got\n%s", rs)
	}
}

// TestMatchExprs pins the encoding of the matches whose bytes are easy to
// get wrong: prefixes, port ranges and interface names.
func TestMatchExprs(t *testing.T) {
	got, err := Match{Kind: MatchDestCIDR, Prefix: netip.MustParsePrefix("10.96.0.0/12")}.exprs(IPv4)
	if err != nil {
		t.Fatal(err)
	}
	want := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 240, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 96, 0, 0}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ip daddr 10.96.0.0/12 (-want +got):\n%s", d)
	}
	got, _ = Match{Kind: MatchDestCIDR, Prefix: netip.MustParsePrefix("fd96::/17")}.exprs(IPv6)
	if p := got[0].(*expr.Payload); p.Offset != 24 || p.Len != 16 {
		t.Errorf("ip6 daddr: payload %+v", p)
	}
	if m := got[1].(*expr.Bitwise).Mask; m[0] != 255 || m[1] != 255 || m[2] != 128 || m[3] != 0 {
		t.Errorf("ip6 /17 mask %v", m)
	}
	if _, err := (Match{Kind: MatchDestCIDR, Prefix: netip.MustParsePrefix("fd96::/17")}).exprs(IPv4); err == nil {
		t.Error("an IPv6 prefix in the ip table: no error")
	}
	got, _ = Match{Kind: MatchDestPort, Ports: PortRange{First: 15000, Last: 15099}}.exprs(IPv4)
	if r := got[1].(*expr.Range); string(r.FromData) != "\x3a\x98" || string(r.ToData) != "\x3a\xfb" {
		t.Errorf("tcp dport 15000-15099: %+v", r)
	}
	got, _ = Match{Kind: MatchOutLoopback}.exprs(IPv6)
	if c := got[1].(*expr.Cmp); len(c.Data) != 16 || string(c.Data[:3]) != "lo\x00" {
		t.Errorf("oifname lo: %q", c.Data)
	}
}

// TestDocsDryRun: the rule set docs/mesh.md shows for the defaults is the
// one Build makes.
func TestDocsDryRun(t *testing.T) {
	data, err := os.ReadFile("../../docs/mesh.md")
	if err != nil {
		t.Fatal(err)
	}
	const intro = "with the defaults, the `ip` table is:\n\n```\n"
	_, rest, ok := strings.Cut(string(data), intro)
	shown, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatalf("docs/mesh.md has no rule set after %q", intro)
	}
	rs, err := buildFromArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := RuleSet{Tables: rs.Tables[:1]}.String()
	if d := cmp.Diff(got, shown); d != "" {
		t.Errorf("docs/mesh.md's default rule set (-built +shown):\n%s", d)
	}
}
