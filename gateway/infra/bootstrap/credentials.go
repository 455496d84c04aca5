package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// Credentials make a node reach Gantry over TLS and prove who it is.
type Credentials struct {
	// CAFile is the PEM bundle that verifies Gantry's serving certificate.
	CAFile string
	// ServerName is the name Gantry's certificate must carry (Envoy: SNI
	// and SAN check; default: the xDS host). A gRPC client checks the host
	// of its xDS address instead.
	ServerName string
	// CertFile and KeyFile are the node's client certificate of the mesh
	// CA (mTLS). gantry agent keeps them current in a Deployment; Envoy
	// reloads them when the folder of CertFile changes.
	CertFile, KeyFile string
	// TokenFile is a ServiceAccount token with Gantry's audience, sent as
	// "authorization: Bearer" (gRPC flavor only: jwt_token_file call
	// credentials, which grpc-go enables with
	// GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS=true).
	TokenFile string
	// SDSFile is where the Envoy flavor's SDS file (EnvoySDS) is written; the
	// bootstrap points at it.
	SDSFile string
}

// SDS secret names of Envoy's xDS connection.
const (
	sdsClientCert = "gantry_xds_client"
	sdsCA         = "gantry_xds_ca"
)

func (c *Credentials) check(grpc bool) error {
	switch {
	case c.CAFile == "":
		return errors.New("bootstrap: credentials: a CA file that verifies Gantry is required")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("bootstrap: credentials: certificate and key files go together")
	case !grpc && c.CertFile == "":
		return errors.New("bootstrap: credentials: Envoy authenticates with a client certificate (cert and key files, kept by gantry agent); tokens are for gRPC clients and the agent")
	case !grpc && c.SDSFile == "":
		return errors.New("bootstrap: credentials: Envoy needs the path of its SDS file")
	case c.CertFile == "" && c.TokenFile == "":
		return errors.New("bootstrap: credentials: a client certificate or a token file is required")
	}
	return nil
}

// XDSTransportSocket is the TLS of Envoy's xDS cluster: its client
// certificate and the CA from the SDS file, reloaded when the certificate's
// folder changes, and the server's name checked.
func XDSTransportSocket(c *Credentials, serverName string) (*corev3.TransportSocket, error) {
	source := &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
			Path:             c.SDSFile,
			WatchedDirectory: &corev3.WatchedDirectory{Path: filepath.Dir(c.CertFile)},
		}},
	}
	// A name that is an IP is checked as an IP SAN and not sent as SNI.
	sanType, sni := tlsv3.SubjectAltNameMatcher_DNS, serverName
	if net.ParseIP(serverName) != nil {
		sanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
			AlpnProtocols:                  []string{"h2"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: sdsClientCert, SdsConfig: source}},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: sanType,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: serverName}},
				}}},
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: sdsCA, SdsConfig: source},
			}},
		},
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// EnvoySDS is the SDS file of c.SDSFile: the client certificate and the CA
// that Envoy's xDS connection reads, by file name.
func EnvoySDS(c *Credentials) ([]byte, error) {
	file := func(p string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: p}}
	}
	secrets := []*tlsv3.Secret{
		{Name: sdsClientCert, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: file(c.CertFile), PrivateKey: file(c.KeyFile),
		}}},
		{Name: sdsCA, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: file(c.CAFile)}}},
	}
	var resources []json.RawMessage
	for _, s := range secrets {
		if err := s.ValidateAll(); err != nil {
			return nil, fmt.Errorf("bootstrap: SDS file: %w", err)
		}
		a, err := anypb.New(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: SDS file: %w", err)
		}
		data, err := protojson.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: SDS file: %w", err)
		}
		resources = append(resources, data)
	}
	out, err := json.MarshalIndent(map[string]any{"resources": resources}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bootstrap: SDS file: %w", err)
	}
	return append(out, '\n'), nil
}

// grpcCreds are the channel and call credentials of a gRPC bootstrap.
func grpcCreds(c *Credentials) ([]GRPCChannelCred, []GRPCCallCred) {
	if c == nil {
		return []GRPCChannelCred{{Type: "insecure"}}, nil
	}
	cfg := map[string]string{"ca_certificate_file": c.CAFile}
	if c.CertFile != "" {
		cfg["certificate_file"], cfg["private_key_file"] = c.CertFile, c.KeyFile
	}
	var calls []GRPCCallCred
	if c.TokenFile != "" {
		calls = []GRPCCallCred{{Type: "jwt_token_file", Config: map[string]string{"jwt_token_file": c.TokenFile}}}
	}
	return []GRPCChannelCred{{Type: "tls", Config: cfg}}, calls
}
