package ir

// EdgeSettings harden an HTTP connection manager that faces clients (a
// Gateway's listeners). nil means Envoy's defaults apart from path
// normalization, which xds/envoy always sets.
type EdgeSettings struct {
	NormalizePath bool `json:"normalizePath"`
	MergeSlashes  bool `json:"mergeSlashes"`
	// EscapedSlashes is what a path holding %2F or %5C gets.
	EscapedSlashes EscapedSlashesAction `json:"escapedSlashes"`
	// HeadersWithUnderscores is what a request header whose name holds an
	// underscore gets.
	HeadersWithUnderscores UnderscoresAction `json:"headersWithUnderscores"`
	// StripTrailingHostDot matches "example.com." as "example.com".
	StripTrailingHostDot bool `json:"stripTrailingHostDot"`
	// HTTP/2 limits per client connection (0: Envoy's default).
	HTTP2MaxConcurrentStreams        uint32 `json:"http2MaxConcurrentStreams,omitempty"`
	HTTP2InitialStreamWindowSize     uint32 `json:"http2InitialStreamWindowSize,omitempty"`
	HTTP2InitialConnectionWindowSize uint32 `json:"http2InitialConnectionWindowSize,omitempty"`
}

// EscapedSlashesAction is Envoy's path_with_escaped_slashes_action.
type EscapedSlashesAction string

const (
	EscapedSlashesUnescapeAndRedirect EscapedSlashesAction = "UnescapeAndRedirect"
	EscapedSlashesReject              EscapedSlashesAction = "Reject"
	EscapedSlashesUnescapeAndForward  EscapedSlashesAction = "UnescapeAndForward"
	EscapedSlashesKeepUnchanged       EscapedSlashesAction = "KeepUnchanged"
)

// UnderscoresAction is Envoy's headers_with_underscores_action.
type UnderscoresAction string

const (
	UnderscoresRejectRequest UnderscoresAction = "RejectRequest"
	UnderscoresDropHeader    UnderscoresAction = "DropHeader"
	UnderscoresAllow         UnderscoresAction = "Allow"
)
