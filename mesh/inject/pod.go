package inject

import (
	"encoding/json"
	"fmt"
	"net"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantryproxy/gantry/mesh/agent"
)

// Volumes injection adds.
const (
	certsVolume = "gantry-certs"
	tokenVolume = "gantry-token"
	xdsVolume   = "gantry-xds"
	// tokenExpiration is the projected token's lifetime; the kubelet
	// renews it, the agent re-reads it on every request.
	tokenExpiration = 3600
)

// sidecarInput is what sidecars needs.
type sidecarInput struct {
	Namespace   string
	Config      Config // with defaults
	CaptureArgs []string
	Probes      agent.Probes
}

// added is what injection adds to a pod.
type added struct {
	InitContainers []corev1.Container
	Volumes        []corev1.Volume
	// SDS is the SDS file, carried by SDSAnnotation.
	SDS string
}

// sidecars builds the injected containers, in start order, and volumes.
func sidecars(in sidecarInput) (added, error) {
	cfg := in.Config
	boot, err := Bootstrap(in.Namespace, cfg)
	if err != nil {
		return added{}, err
	}
	sds, err := SDSFile(cfg)
	if err != nil {
		return added{}, err
	}
	probes, err := json.Marshal(in.Probes) // map keys sorted: deterministic
	if err != nil {
		return added{}, fmt.Errorf("inject: probes: %w", err)
	}
	always := corev1.ContainerRestartPolicyAlways
	agentRun := agentContainer(AgentContainerName, cfg, false)
	agentRun.RestartPolicy = &always
	agentRun.Env = append(agentRun.Env, corev1.EnvVar{Name: agent.ProbesEnv, Value: string(probes)})
	agentRun.Ports = []corev1.ContainerPort{{Name: "gantry-probes", ContainerPort: agent.ProbePort, Protocol: corev1.ProtocolTCP}}
	return added{
		InitContainers: []corev1.Container{
			captureContainer(cfg, in.CaptureArgs),
			agentContainer(AgentInitContainerName, cfg, true),
			agentRun,
			proxyContainer(cfg, boot),
		},
		Volumes: volumes(cfg),
		SDS:     sds,
	}, nil
}

// captureContainer installs the traffic redirection: root with NET_ADMIN
// and NET_RAW, every other capability dropped, nothing else privileged.
func captureContainer(cfg Config, args []string) corev1.Container {
	root, no, yes := int64(0), false, true
	return corev1.Container{
		Name:      CaptureContainerName,
		Image:     cfg.AgentImage,
		Args:      args,
		Resources: requests("10m", "16Mi"),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                &root,
			RunAsGroup:               &root,
			RunAsNonRoot:             &no,
			Privileged:               &no,
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// agentContainer runs gantry agent as the fleet does: once as an init
// container (the first certificate, proven with the projected token), then
// beside Envoy to renew it.
func agentContainer(name string, cfg Config, once bool) corev1.Container {
	args := []string{"agent",
		"--xds-address=" + cfg.XDSAddress, "--server-name=" + cfg.ServerName,
		"--ca-file=" + path.Join(XDSDir, XDSCAFile), "--token-file=" + path.Join(TokenDir, TokenFile),
		"--trust-domain=" + cfg.TrustDomain, "--output-dir=" + CertDir}
	if once {
		args = append(args, "--once")
	} else {
		args = append(args, "--probe-address="+net.JoinHostPort("", strconv.Itoa(agent.ProbePort)))
	}
	return corev1.Container{
		Name:  name,
		Image: cfg.AgentImage,
		Args:  args,
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("POD_SERVICE_ACCOUNT", "spec.serviceAccountName"),
		},
		Resources:       requests("10m", "16Mi"),
		SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: xdsVolume, MountPath: XDSDir, ReadOnly: true},
			{Name: tokenVolume, MountPath: TokenDir, ReadOnly: true},
			{Name: certsVolume, MountPath: CertDir},
		},
	}
}

// proxyContainer is Envoy, a native sidecar: it starts before the
// application (which waits for its startup probe: Envoy has its
// configuration) and stops after it.
func proxyContainer(cfg Config, boot string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	ready := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: agent.ProxyReadyPath, Port: intstr.FromInt32(agent.ProbePort), Scheme: corev1.URISchemeHTTP,
	}}
	return corev1.Container{
		Name:  ContainerName,
		Image: cfg.Image,
		Args: []string{
			"--config-yaml", boot,
			"--service-node", "$(POD_NAME).$(POD_NAMESPACE)",
			// One Envoy per container: no hot restart, no shared memory.
			"--disable-hot-restart",
			"--log-level", "info",
		},
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		},
		Ports:           []corev1.ContainerPort{statsPort(cfg)},
		RestartPolicy:   &always,
		StartupProbe:    &corev1.Probe{ProbeHandler: ready, PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: 600},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: ready, PeriodSeconds: 15, TimeoutSeconds: 3, FailureThreshold: 4},
		Resources:       requests("50m", "64Mi"),
		SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: xdsVolume, MountPath: XDSDir, ReadOnly: true},
			{Name: certsVolume, MountPath: CertDir, ReadOnly: true},
		},
	}
}

// proxySecurity runs Envoy and the agent as the proxy user, unprivileged.
func proxySecurity() *corev1.SecurityContext {
	uid, gid := int64(ProxyUID), int64(ProxyGID)
	no, yes := false, true
	return &corev1.SecurityContext{
		RunAsUser:                &uid,
		RunAsGroup:               &gid,
		RunAsNonRoot:             &yes,
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// volumes: the certificates (in memory), the token of Gantry's audience
// (only the agent mounts it), and the xDS trust and SDS files.
func volumes(cfg Config) []corev1.Volume {
	expiration := int64(tokenExpiration)
	return []corev1.Volume{
		{Name: certsVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: tokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: cfg.Audience, ExpirationSeconds: &expiration, Path: TokenFile},
		}}}}},
		{Name: xdsVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: BundleConfigMap},
				Items:                []corev1.KeyToPath{{Key: BundleKey, Path: XDSCAFile}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: XDSSDSFile, FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + SDSAnnotation + "']"},
			}}}},
		}}}},
	}
}

func fieldEnv(name, field string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: field}}}
}

func requests(cpu, memory string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
	}}
}
