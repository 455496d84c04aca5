package host

import (
	"fmt"
	"net"
)

// portAttempts bounds how often freePorts asks the kernel again when it
// hands out a port another managed Envoy already owns.
const portAttempts = 8

// freePorts picks a free loopback port for an Envoy's admin API and a free
// port on StatsHost for its stats listener. Both are held open until both
// are known, so the kernel cannot hand out the same port twice, and a port
// already given to another managed Envoy (which may be between restarts and
// so not listening) is never reused. Envoy binds them right after; the
// bootstrap keeps them across restarts. Called with m.mu held.
func (m *Manager) freePorts() (admin, stats string, err error) {
	taken := map[string]bool{} // ports, whatever the host: 0.0.0.0 covers loopback too
	for _, p := range m.procs {
		taken[port(p.stats)] = true
		taken[port(p.admin)] = true
	}
	for range portAttempts {
		admin, stats, err = listenPair("127.0.0.1", m.opts.StatsHost)
		if err != nil {
			return "", "", err
		}
		if !taken[port(admin)] && !taken[port(stats)] && port(admin) != port(stats) {
			return admin, stats, nil
		}
	}
	return "", "", fmt.Errorf("no free ports for the admin API and stats listener after %d attempts", portAttempts)
}

// listenPair binds a free port on each host, reads the addresses and
// releases both.
func listenPair(adminHost, statsHost string) (string, string, error) {
	a, err := net.Listen("tcp", net.JoinHostPort(adminHost, "0"))
	if err != nil {
		return "", "", fmt.Errorf("admin port: %w", err)
	}
	defer a.Close()
	s, err := net.Listen("tcp", net.JoinHostPort(statsHost, "0"))
	if err != nil {
		return "", "", fmt.Errorf("stats port on %s: %w", statsHost, err)
	}
	defer s.Close()
	return net.JoinHostPort(adminHost, port(a.Addr().String())), net.JoinHostPort(statsHost, port(s.Addr().String())), nil
}

// port is the port of a host:port address.
func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}
