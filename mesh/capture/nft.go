package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Install replaces Gantry's capture tables with rs in one netlink
// transaction: either every rule of rs is in place afterwards, or nothing
// changed. Running it again with the same or other options replaces its own
// tables and touches nothing else. opts select the network namespace
// (nftables.WithNetNSFd); by default it is the caller's.
func Install(rs RuleSet, opts ...nftables.ConnOption) error {
	conn, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range rs.Tables {
		if err := queueTable(conn, t); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("install nftables table %s: %w", TableName, err)
	}
	return nil
}

// Remove deletes Gantry's capture tables of every family; it succeeds when
// there are none.
func Remove(opts ...nftables.ConnOption) error {
	conn, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, f := range Families {
		t := &nftables.Table{Family: nftFamily(f), Name: TableName}
		conn.AddTable(t) // "add" of an existing table is a no-op, so the delete always has a target
		conn.DelTable(t)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("remove nftables table %s: %w", TableName, err)
	}
	return nil
}

// queueTable queues the replacement of one family's table.
func queueTable(conn *nftables.Conn, t Table) error {
	table := &nftables.Table{Family: nftFamily(t.Family), Name: TableName}
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	accept := nftables.ChainPolicyAccept
	for _, c := range t.Chains {
		hook := nftables.ChainHookOutput
		if c.Hook == HookPrerouting {
			hook = nftables.ChainHookPrerouting
		}
		chain := conn.AddChain(&nftables.Chain{
			Name: c.Name, Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: hook, Priority: nftables.ChainPriorityNATDest, Policy: &accept,
		})
		for i, r := range c.Rules {
			exprs, err := r.exprs(t.Family)
			if err != nil {
				return fmt.Errorf("table %s %s chain %s rule %d: %w", t.Family, TableName, c.Name, i, err)
			}
			conn.AddRule(&nftables.Rule{
				Table: table, Chain: chain, Exprs: exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment),
			})
		}
	}
	return nil
}

func nftFamily(f Family) nftables.TableFamily {
	if f == IPv6 {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

// exprs encodes the rule as nft would: each match loads a value into
// register 1 and compares it; the verdict comes last.
func (r Rule) exprs(f Family) ([]expr.Any, error) {
	var out []expr.Any
	for _, m := range r.Matches {
		e, err := m.exprs(f)
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
	}
	if r.RedirectPort == 0 {
		return append(out, &expr.Verdict{Kind: expr.VerdictReturn}), nil
	}
	return append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Immediate{Register: 1, Data: binary.BigEndian.AppendUint16(nil, r.RedirectPort)},
		&expr.Redir{RegisterProtoMin: 1},
	), nil
}

func (m Match) exprs(f Family) ([]expr.Any, error) {
	switch m.Kind {
	case MatchNotTCP:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		}, nil
	case MatchSocketUID, MatchSocketGID:
		key := expr.MetaKeySKUID
		if m.Kind == MatchSocketGID {
			key = expr.MetaKeySKGID
		}
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, m.ID)},
		}, nil
	case MatchOutLoopback, MatchInLoopback:
		key := expr.MetaKeyOIFNAME
		if m.Kind == MatchInLoopback {
			key = expr.MetaKeyIIFNAME
		}
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
		}, nil
	case MatchDestCIDR:
		return cidrExprs(f, m)
	case MatchDestPort:
		load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
		first, last := binary.BigEndian.AppendUint16(nil, m.Ports.First), binary.BigEndian.AppendUint16(nil, m.Ports.Last)
		if m.Ports.First == m.Ports.Last {
			return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: first}}, nil
		}
		return []expr.Any{load, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: first, ToData: last}}, nil
	}
	return nil, fmt.Errorf("unknown match kind %d", m.Kind)
}

// cidrExprs loads the destination address, masks it to the prefix length
// and compares it with the prefix.
func cidrExprs(f Family, m Match) ([]expr.Any, error) {
	offset, size := uint32(16), uint32(4) // IPv4 header: daddr at 16
	if f == IPv6 {
		offset, size = 24, 16 // IPv6 header: daddr at 24
	}
	addr := m.Prefix.Addr().AsSlice()
	if uint32(len(addr)) != size {
		return nil, fmt.Errorf("CIDR %s in the %s table", m.Prefix, f)
	}
	mask := make([]byte, size)
	for i := range m.Prefix.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
	}, nil
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ bytes).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
