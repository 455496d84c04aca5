package inject

import (
	"fmt"
	"net"
	"strconv"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/capture"
)

// Defaults of Config.
const (
	DefaultImage      = "docker.io/envoyproxy/envoy:distroless-v1.40.0" // the edge fleet's default too
	DefaultAgentImage = "ghcr.io/gantryproxy/gantry:latest"
	DefaultXDSAddress = "gantry.gantry-system.svc:18000"
	DefaultAdminPort  = 15000
	// DefaultAudience is the audience of the agent's projected token, the
	// one gantry serve accepts by default (mesh/identity.DefaultAudience).
	DefaultAudience = "gantry"
	// ProxyUID and ProxyGID run Envoy and the agent: not root, distinct
	// from usual application users, and exempt from traffic capture.
	ProxyUID = capture.DefaultProxyUID
	ProxyGID = capture.DefaultProxyGID
)

// Config is what every injected sidecar shares.
type Config struct {
	// Image is the Envoy image (default DefaultImage).
	Image string `json:"image,omitempty"`
	// AgentImage is Gantry's own image, which runs gantry capture and
	// gantry agent (default DefaultAgentImage).
	AgentImage string `json:"agentImage,omitempty"`
	// XDSAddress is Gantry's ADS address as pods reach it, host:port
	// (default DefaultXDSAddress).
	XDSAddress string `json:"xdsAddress,omitempty"`
	// ServerName is the name Gantry's serving certificate must carry
	// (default: the host of XDSAddress).
	ServerName string `json:"serverName,omitempty"`
	// Audience of the agent's projected ServiceAccount token (default
	// DefaultAudience).
	Audience string `json:"audience,omitempty"`
	// TrustDomain of the workload's SPIFFE ID (default cluster.local).
	TrustDomain string `json:"trustDomain,omitempty"`
	// AdminPort is Envoy's admin port, bound to 127.0.0.1 (default 15000).
	AdminPort int32 `json:"adminPort,omitempty"`
	// StatsPort serves only GET /stats/prometheus (default 15090).
	StatsPort int32 `json:"statsPort,omitempty"`
}

func (c Config) withDefaults() (Config, error) {
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.AgentImage == "" {
		c.AgentImage = DefaultAgentImage
	}
	if c.XDSAddress == "" {
		c.XDSAddress = DefaultXDSAddress
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.TrustDomain == "" {
		c.TrustDomain = ca.DefaultTrustDomain
	}
	if c.AdminPort == 0 {
		c.AdminPort = DefaultAdminPort
	}
	if c.StatsPort == 0 {
		c.StatsPort = DefaultStatsPort
	}
	host, port, err := net.SplitHostPort(c.XDSAddress)
	if err != nil || host == "" {
		return c, fmt.Errorf("inject: xdsAddress %q: want host:port", c.XDSAddress)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return c, fmt.Errorf("inject: xdsAddress %q: port must be 1-65535", c.XDSAddress)
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.AdminPort < 1 || c.AdminPort > 65535 {
		return c, fmt.Errorf("inject: adminPort %d: want 1-65535", c.AdminPort)
	}
	if c.StatsPort < 1 || c.StatsPort > 65535 || c.StatsPort == c.AdminPort {
		return c, fmt.Errorf("inject: statsPort %d: want 1-65535, not the admin port", c.StatsPort)
	}
	return c, nil
}

// Check reports a configuration that cannot make a sidecar.
func (c Config) Check() error {
	_, err := c.withDefaults()
	return err
}
