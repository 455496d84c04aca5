package ca

// The workload certificate files that gantry agent writes and proxies read:
// one directory, in the names of a Kubernetes TLS Secret.
const (
	// DefaultCertDir is the directory inside the proxy's container.
	DefaultCertDir = "/var/run/gantry/certs"
	CertFile       = "tls.crt" // PEM certificate chain, leaf first
	KeyFile        = "tls.key" // PEM private key (PKCS #8)
	CAFile         = "ca.crt"  // PEM trust bundle
	// WorkloadSecret is the SDS name under which a proxy's own certificate
	// (those files) is served: one name for every workload of a group, as
	// each proxy reads its own files.
	WorkloadSecret = "mesh/workload"
)
