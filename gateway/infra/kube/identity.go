package kube

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// FleetIdentity makes each Gateway's fleet authenticate to Gantry. gantry
// agent, beside Envoy in the pod, proves the fleet's ServiceAccount with a
// projected token of Audience, gets the fleet's certificate (its key never
// leaves the pod) and keeps it in an in-memory volume; Envoy's xDS
// connection presents it over TLS and reloads it when the agent renews it.
type FleetIdentity struct {
	// AgentImage runs gantry agent (Gantry's own image).
	AgentImage string
	// Audience of the projected ServiceAccount token.
	Audience    string
	TrustDomain string
	// Bundle returns the trust bundle that verifies Gantry's serving
	// certificate: the agent's first contact trusts it (xds-ca.crt).
	Bundle func() []byte
}

// Paths inside a fleet pod.
const (
	fleetCertDir    = ca.DefaultCertDir
	fleetTokenDir   = "/var/run/secrets/tokens"
	fleetTokenFile  = fleetTokenDir + "/gantry"
	fleetConfigDir  = "/etc/envoy"
	fleetSDSKey     = "xds-sds.json"
	fleetXDSCAKey   = "xds-ca.crt"
	tokenExpiration = 3600
)

// fleetCredentials are the files the fleet's Envoy reads to reach Gantry.
func fleetCredentials() *bootstrap.Credentials {
	return &bootstrap.Credentials{
		CAFile: fleetCertDir + "/" + ca.CAFile, CertFile: fleetCertDir + "/" + ca.CertFile, KeyFile: fleetCertDir + "/" + ca.KeyFile,
		SDSFile: fleetConfigDir + "/" + fleetSDSKey,
	}
}

// xdsTransportSocket is the TLS of the bootstrap's xDS cluster, as the
// generic JSON the bootstrap is written in.
func xdsTransportSocket(host string) (map[string]any, error) {
	ts, err := bootstrap.XDSTransportSocket(fleetCredentials(), host)
	if err != nil {
		return nil, err
	}
	data, err := protojson.Marshal(ts)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return out, nil
}

// agentContainer runs gantry agent for the fleet: once as an init
// container (the first certificate, before Envoy starts), then beside Envoy
// to renew it.
func agentContainer(name string, id *FleetIdentity, xdsAddress, host, namespace, serviceAccount string, once bool) *corev1ac.ContainerApplyConfiguration {
	args := []string{"agent",
		"--xds-address", xdsAddress, "--server-name", host,
		"--ca-file", fleetConfigDir + "/" + fleetXDSCAKey, "--token-file", fleetTokenFile,
		"--namespace", namespace, "--service-account", serviceAccount, "--trust-domain", id.TrustDomain,
		"--output-dir", fleetCertDir}
	if once {
		args = append(args, "--once")
	}
	return corev1ac.Container().WithName(name).WithImage(id.AgentImage).WithArgs(args...).
		WithSecurityContext(corev1ac.SecurityContext().WithAllowPrivilegeEscalation(false).WithReadOnlyRootFilesystem(true).
			WithRunAsNonRoot(true).WithCapabilities(corev1ac.Capabilities().WithDrop("ALL"))).
		WithResources(corev1ac.ResourceRequirements().WithRequests(corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")})).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("bootstrap").WithMountPath(fleetConfigDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("gantry-token").WithMountPath(fleetTokenDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("gantry-certs").WithMountPath(fleetCertDir),
		)
}

// envoyCertMount is Envoy's read-only view of the agent's certificates.
func envoyCertMount() *corev1ac.VolumeMountApplyConfiguration {
	return corev1ac.VolumeMount().WithName("gantry-certs").WithMountPath(fleetCertDir).WithReadOnly(true)
}

// withFleetIdentity adds the agent and the token and certificate volumes
// to a fleet pod.
func withFleetIdentity(pod *corev1ac.PodSpecApplyConfiguration, in deploymentInput) {
	id := in.Identity
	host, _, _ := splitHostPort(in.XDSAddress)
	pod.WithInitContainers(agentContainer("gantry-agent-init", id, in.XDSAddress, host, in.Namespace, in.Name, true)).
		WithContainers(agentContainer("gantry-agent", id, in.XDSAddress, host, in.Namespace, in.Name, false)).
		WithVolumes(
			corev1ac.Volume().WithName("gantry-certs").WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithMedium(corev1.StorageMediumMemory)),
			corev1ac.Volume().WithName("gantry-token").WithProjected(corev1ac.ProjectedVolumeSource().WithSources(
				corev1ac.VolumeProjection().WithServiceAccountToken(corev1ac.ServiceAccountTokenProjection().
					WithAudience(id.Audience).WithExpirationSeconds(tokenExpiration).WithPath("gantry")))),
		)
}
