package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and
// IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h): both 80.
const soOriginalDst = 80

// OriginalDst returns the destination a redirected connection was made to,
// before the capture rules sent it to this listener (the conntrack entry's
// original destination). For a connection that was not redirected (no
// conntrack entry, or one without NAT) it is the local address.
func OriginalDst(c *net.TCPConn) (netip.AddrPort, error) {
	local, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, errors.New("original destination: not a TCP connection")
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	var dst netip.AddrPort
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		if local.AddrPort().Addr().Unmap().Is4() {
			dst, sockErr = originalDst4(int(fd))
		} else {
			dst, sockErr = originalDst6(int(fd))
		}
	})
	if err == nil {
		err = sockErr
	}
	if errors.Is(err, unix.ENOENT) { // conntrack does not track it: not redirected
		return netip.AddrPortFrom(local.AddrPort().Addr().Unmap(), local.AddrPort().Port()), nil
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination of %s: %w", local, err)
	}
	return dst, nil
}

// originalDst4 reads a struct sockaddr_in. x/sys/unix has no getsockopt for
// it; the 20 bytes of an IPv6Mreq hold its 16.
func originalDst4(fd int) (netip.AddrPort, error) {
	m, err := unix.GetsockoptIPv6Mreq(fd, unix.SOL_IP, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SO_ORIGINAL_DST: %w", err)
	}
	b := m.Multiaddr[:] // sin_family (host order), sin_port (network order), sin_addr
	if binary.NativeEndian.Uint16(b[0:2]) != unix.AF_INET {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: address family %d, want AF_INET", binary.NativeEndian.Uint16(b[0:2]))
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), nil
}

// originalDst6 reads a struct sockaddr_in6, the first member of the
// IPv6MTUInfo getsockopt x/sys/unix offers.
func originalDst6(fd int) (netip.AddrPort, error) {
	info, err := unix.GetsockoptIPv6MTUInfo(fd, unix.SOL_IPV6, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt IP6T_SO_ORIGINAL_DST: %w", err)
	}
	sa := info.Addr
	if sa.Family != unix.AF_INET6 {
		return netip.AddrPort{}, fmt.Errorf("IP6T_SO_ORIGINAL_DST: address family %d, want AF_INET6", sa.Family)
	}
	port := binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, sa.Port)) // the field holds network-order bytes
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), nil
}
