package envoy

import (
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

var escapedSlashes = map[ir.EscapedSlashesAction]hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction{
	ir.EscapedSlashesUnescapeAndRedirect: hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT,
	ir.EscapedSlashesReject:              hcmv3.HttpConnectionManager_REJECT_REQUEST,
	ir.EscapedSlashesUnescapeAndForward:  hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD,
	ir.EscapedSlashesKeepUnchanged:       hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
}

var underscores = map[ir.UnderscoresAction]corev3.HttpProtocolOptions_HeadersWithUnderscoresAction{
	ir.UnderscoresRejectRequest: corev3.HttpProtocolOptions_REJECT_REQUEST,
	ir.UnderscoresDropHeader:    corev3.HttpProtocolOptions_DROP_HEADER,
	ir.UnderscoresAllow:         corev3.HttpProtocolOptions_ALLOW,
}

// applyEdge sets the hardening of a manager facing clients (Envoy flavor).
func applyEdge(out *hcmv3.HttpConnectionManager, e *ir.EdgeSettings) error {
	if e == nil {
		return nil
	}
	out.NormalizePath = wrapperspb.Bool(e.NormalizePath)
	out.MergeSlashes = e.MergeSlashes
	out.StripTrailingHostDot = e.StripTrailingHostDot
	if e.EscapedSlashes != "" {
		a, ok := escapedSlashes[e.EscapedSlashes]
		if !ok {
			return fmt.Errorf("edge: escapedSlashes %q: unknown", e.EscapedSlashes)
		}
		out.PathWithEscapedSlashesAction = a
	}
	if e.HeadersWithUnderscores != "" {
		a, ok := underscores[e.HeadersWithUnderscores]
		if !ok {
			return fmt.Errorf("edge: headersWithUnderscores %q: unknown", e.HeadersWithUnderscores)
		}
		out.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{HeadersWithUnderscoresAction: a}
	}
	h2 := &corev3.Http2ProtocolOptions{}
	set := false
	for _, f := range []struct {
		v   uint32
		dst **wrapperspb.UInt32Value
	}{
		{v: e.HTTP2MaxConcurrentStreams, dst: &h2.MaxConcurrentStreams},
		{v: e.HTTP2InitialStreamWindowSize, dst: &h2.InitialStreamWindowSize},
		{v: e.HTTP2InitialConnectionWindowSize, dst: &h2.InitialConnectionWindowSize},
	} {
		if f.v != 0 {
			*f.dst, set = wrapperspb.UInt32(f.v), true
		}
	}
	if set {
		out.Http2ProtocolOptions = h2
	}
	return nil
}
