package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// Paths inside an injected pod.
const (
	// CertDir is where the agent writes the workload's certificate, key and
	// trust bundle (an in-memory volume); Envoy reads it.
	CertDir = ca.DefaultCertDir
	// XDSDir holds what reaching Gantry needs before the first
	// certificate: the trust bundle Gantry publishes in every mesh
	// namespace (XDSCAFile) and Envoy's SDS file (XDSSDSFile).
	XDSDir     = "/etc/gantry/xds"
	XDSCAFile  = "xds-ca.crt"
	XDSSDSFile = "xds-sds.json"
	// TokenDir holds the agent's projected ServiceAccount token (TokenFile).
	TokenDir  = "/var/run/secrets/tokens"
	TokenFile = "gantry"
	// BundleConfigMap and BundleKey are the trust bundle gantry serve
	// publishes in every namespace labelled for injection
	// (mesh/ca/kubeca.BundleConfigMap and BundleKey).
	BundleConfigMap = "gantry-ca-root-cert"
	BundleKey       = "root-cert.pem"
)

// credentials are the files the sidecar's Envoy reaches Gantry with.
func credentials(cfg Config) *bootstrap.Credentials {
	return &bootstrap.Credentials{
		CAFile: path.Join(CertDir, ca.CAFile), CertFile: path.Join(CertDir, ca.CertFile), KeyFile: path.Join(CertDir, ca.KeyFile),
		SDSFile: path.Join(XDSDir, XDSSDSFile), ServerName: cfg.ServerName,
	}
}

// Bootstrap is the sidecar's Envoy bootstrap as compact JSON (Envoy reads
// it as YAML), made by gateway/infra/bootstrap as every Gantry bootstrap:
// node.cluster "mesh/<namespace>", ADS over TLS to cfg.XDSAddress with the
// agent's certificate (the SDS file of SDS), the server's name checked,
// admin on 127.0.0.1 only, a stats listener, the RE2 limit and the
// overload manager. node.id comes from --service-node.
func Bootstrap(namespace string, cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	if namespace == "" || strings.Contains(namespace, "/") {
		return "", fmt.Errorf("inject: namespace %q: want a namespace name", namespace)
	}
	b, err := bootstrap.Envoy(bootstrap.Options{
		Group: GroupPrefix + namespace,
		// Replaced by --service-node $(POD_NAME).$(POD_NAMESPACE).
		NodeID:       "sidecar." + namespace,
		XDSAddress:   cfg.XDSAddress,
		AdminAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(cfg.AdminPort))),
		StatsAddress: net.JoinHostPort("0.0.0.0", strconv.Itoa(int(cfg.StatsPort))),
		Credentials:  credentials(cfg),
		CertDir:      CertDir,
	})
	if err != nil {
		return "", fmt.Errorf("inject: %w", err)
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("inject: bootstrap: %w", err)
	}
	return compact(data)
}

// SDSFile is the content of the sidecar's SDS file: the agent's
// certificate, key and trust bundle, by file name.
func SDSFile(cfg Config) (string, error) {
	data, err := bootstrap.EnvoySDS(credentials(cfg))
	if err != nil {
		return "", fmt.Errorf("inject: %w", err)
	}
	return compact(data)
}

// compact removes the insignificant spaces protojson may vary.
func compact(data []byte) (string, error) {
	var out bytes.Buffer
	if err := json.Compact(&out, data); err != nil {
		return "", fmt.Errorf("inject: bootstrap: %w", err)
	}
	return out.String(), nil
}
