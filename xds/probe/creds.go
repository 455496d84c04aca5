package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// channelCred is one channel_creds entry of a gRPC xDS bootstrap.
type channelCred struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config"`
}

// callCred is one call_creds entry (a token file).
type callCred struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config"`
}

// adsDialOptions are the credentials of the probe's own ADS connection,
// the same the bootstrap gives grpc-go's xDS client: plaintext ("insecure"),
// or TLS with the bootstrap's CA, client certificate and token files.
func adsDialOptions(server string, channel []channelCred, calls []callCred) ([]grpc.DialOption, error) {
	if len(channel) == 0 || channel[0].Type == "insecure" {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	c := channel[0]
	if c.Type != "tls" {
		return nil, fmt.Errorf("probe: bootstrap channel_creds %q: want insecure or tls", c.Type)
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, fmt.Errorf("probe: bootstrap server_uri %q: %w", server, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if f := c.Config["ca_certificate_file"]; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("probe: %s holds no certificate", f)
		}
	}
	if cf, kf := c.Config["certificate_file"], c.Config["private_key_file"]; cf != "" {
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			return nil, fmt.Errorf("probe: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	for _, cc := range calls {
		if cc.Type == "jwt_token_file" {
			opts = append(opts, grpc.WithPerRPCCredentials(tokenFile(cc.Config["jwt_token_file"])))
		}
	}
	return opts, nil
}

// tokenFile sends the token of a file, read on every call, as
// "authorization: Bearer".
type tokenFile string

func (f tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	data, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("probe: token file: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + strings.TrimSpace(string(data))}, nil
}

func (tokenFile) RequireTransportSecurity() bool { return true }

// bootstrapCreds reads the credentials of the first xDS server.
func bootstrapCreds(data []byte) ([]channelCred, []callCred, error) {
	var b struct {
		XDSServers []struct {
			ChannelCreds []channelCred `json:"channel_creds"`
			CallCreds    []callCred    `json:"call_creds"`
		} `json:"xds_servers"`
	}
	if err := json.Unmarshal(data, &b); err != nil || len(b.XDSServers) == 0 {
		return nil, nil, fmt.Errorf("probe: bootstrap: no xds_servers (%v)", err)
	}
	return b.XDSServers[0].ChannelCreds, b.XDSServers[0].CallCreds, nil
}
