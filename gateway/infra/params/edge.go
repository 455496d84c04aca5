package params

import (
	"fmt"
	"strconv"
)

// Edge holds the hardening settings of a Gateway's Envoy fleet: how the
// HTTP connection managers facing clients treat paths, headers and HTTP/2,
// and the fleet-wide downstream connection limit. Default gives the safe
// value of each; docs/security.md lists them.
type Edge struct {
	// NormalizePath normalizes paths (RFC 3986: dot segments, percent
	// encoding) before routing.
	NormalizePath bool
	// MergeSlashes turns "//" into "/" before routing.
	MergeSlashes bool
	// EscapedSlashesAction is what a path with %2F, %5C (encoded "/" and
	// "\") gets: one of EscapedSlashesActions.
	EscapedSlashesAction string
	// HeadersWithUnderscoresAction is what a request header whose name has
	// an underscore gets: one of UnderscoresActions.
	HeadersWithUnderscoresAction string
	// StripTrailingHostDot matches "example.com." as "example.com".
	StripTrailingHostDot bool
	// HTTP/2 limits per client connection.
	HTTP2MaxConcurrentStreams        uint32
	HTTP2InitialStreamWindowSize     uint32
	HTTP2InitialConnectionWindowSize uint32
	// MaxDownstreamConnections bounds the connections one Envoy accepts
	// across all its listeners (overload manager).
	MaxDownstreamConnections uint64
}

// Edge keys of a parameters ConfigMap.
const (
	KeyNormalizePath                    = "normalizePath"
	KeyMergeSlashes                     = "mergeSlashes"
	KeyEscapedSlashesAction             = "escapedSlashesAction"
	KeyHeadersWithUnderscoresAction     = "headersWithUnderscoresAction"
	KeyStripTrailingHostDot             = "stripTrailingHostDot"
	KeyHTTP2MaxConcurrentStreams        = "http2MaxConcurrentStreams"
	KeyHTTP2InitialStreamWindowSize     = "http2InitialStreamWindowSize"
	KeyHTTP2InitialConnectionWindowSize = "http2InitialConnectionWindowSize"
	KeyMaxDownstreamConnections         = "maxDownstreamConnections"
)

// EscapedSlashesActions are the values of KeyEscapedSlashesAction, the safe
// one first.
var EscapedSlashesActions = []string{"UnescapeAndRedirect", "Reject", "UnescapeAndForward", "KeepUnchanged"}

// UnderscoresActions are the values of KeyHeadersWithUnderscoresAction, the
// safe one first.
var UnderscoresActions = []string{"RejectRequest", "DropHeader", "Allow"}

// DefaultEdge is the safe value of every edge setting.
func DefaultEdge() Edge {
	return Edge{
		NormalizePath:                    true,
		MergeSlashes:                     true,
		EscapedSlashesAction:             EscapedSlashesActions[0],
		HeadersWithUnderscoresAction:     UnderscoresActions[0],
		StripTrailingHostDot:             true,
		HTTP2MaxConcurrentStreams:        100,
		HTTP2InitialStreamWindowSize:     64 << 10,
		HTTP2InitialConnectionWindowSize: 1 << 20,
		MaxDownstreamConnections:         50000,
	}
}

// HTTP/2 window bounds (RFC 9113 and Envoy's own).
const (
	minWindow = 65535
	maxWindow = 1<<31 - 1
)

// setEdge applies one edge key; ok is false when key is not one.
func (e Edge) setEdge(key, v string) (out Edge, ok bool, err error) {
	ok = true
	switch key {
	case KeyNormalizePath:
		e.NormalizePath, err = parseBool(v)
	case KeyMergeSlashes:
		e.MergeSlashes, err = parseBool(v)
	case KeyStripTrailingHostDot:
		e.StripTrailingHostDot, err = parseBool(v)
	case KeyEscapedSlashesAction:
		e.EscapedSlashesAction, err = oneOf(v, EscapedSlashesActions)
	case KeyHeadersWithUnderscoresAction:
		e.HeadersWithUnderscoresAction, err = oneOf(v, UnderscoresActions)
	case KeyHTTP2MaxConcurrentStreams:
		e.HTTP2MaxConcurrentStreams, err = parseUint32(v, 1, maxWindow)
	case KeyHTTP2InitialStreamWindowSize:
		e.HTTP2InitialStreamWindowSize, err = parseUint32(v, minWindow, maxWindow)
	case KeyHTTP2InitialConnectionWindowSize:
		e.HTTP2InitialConnectionWindowSize, err = parseUint32(v, minWindow, maxWindow)
	case KeyMaxDownstreamConnections:
		var n uint32
		n, err = parseUint32(v, 1, 10000000)
		e.MaxDownstreamConnections = uint64(n)
	default:
		ok = false
	}
	return e, ok, err
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

func oneOf(v string, allowed []string) (string, error) {
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %v", v, allowed)
}

func parseUint32(v string, lo, hi uint64) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", v, lo, hi)
	}
	return uint32(n), nil
}

// EdgeKeys lists the edge keys, sorted.
var EdgeKeys = []string{
	KeyEscapedSlashesAction, KeyHeadersWithUnderscoresAction, KeyHTTP2InitialConnectionWindowSize,
	KeyHTTP2InitialStreamWindowSize, KeyHTTP2MaxConcurrentStreams, KeyMaxDownstreamConnections,
	KeyMergeSlashes, KeyNormalizePath, KeyStripTrailingHostDot,
}

// Ports the fleet's Envoy itself listens on inside its pod: a Gateway
// listener on one of them could not bind, so translation refuses it.
const (
	AdminPort   = 19000 // Envoy admin, bound to 127.0.0.1 only
	MetricsPort = 19001 // proxies GET /stats/prometheus only
	ReadyPort   = 19003 // proxies GET /ready only
)

// ReservedPorts lists the ports above, sorted.
var ReservedPorts = []int{AdminPort, MetricsPort, ReadyPort}
