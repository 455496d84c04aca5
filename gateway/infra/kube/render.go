package kube

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// listenerPort is one port the Service exposes.
type listenerPort struct {
	Port     int32
	Protocol corev1.Protocol
}

// listenerPorts returns the distinct ports of gw's listeners and of the
// ListenerSets attached to it that accepted holds (nil: all), sorted.
func listenerPorts(gw *gwapiv1.Gateway, sets []*gwapiv1.ListenerSet, accepted map[ListenerKey]bool) []listenerPort {
	seen := map[listenerPort]bool{}
	add := func(k ListenerKey, port gwapiv1.PortNumber, proto gwapiv1.ProtocolType) {
		if accepted != nil && !accepted[k] {
			return
		}
		p := listenerPort{Port: int32(port), Protocol: corev1.ProtocolTCP}
		if proto == gwapiv1.UDPProtocolType {
			p.Protocol = corev1.ProtocolUDP
		}
		if p.Port > 0 {
			seen[p] = true
		}
	}
	for _, l := range gw.Spec.Listeners {
		add(ListenerKey{Kind: "Gateway", Namespace: gw.Namespace, Name: gw.Name, Listener: string(l.Name)}, l.Port, l.Protocol)
	}
	for _, ls := range sets {
		for _, l := range ls.Spec.Listeners {
			add(ListenerKey{Kind: "ListenerSet", Namespace: ls.Namespace, Name: ls.Name, Listener: string(l.Name)}, l.Port, l.Protocol)
		}
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b listenerPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	return out
}

// rendered is everything created for one Gateway.
type rendered struct {
	Name    string
	Objects []runtime.ApplyConfiguration // ServiceAccount, ConfigMap, Service, Deployment
	// Dropped lists infrastructure label/annotation keys that were refused.
	Dropped []string
}

// renderInput is what render needs.
type renderInput struct {
	Gateway        *gwapiv1.Gateway
	Ports          []listenerPort
	Params         Params
	ControllerName string
	XDSAddress     string
	// Identity, when set, makes the fleet authenticate (identity.go).
	Identity *FleetIdentity
}

// render builds the apply configurations for one Gateway.
func render(in renderInput) (*rendered, error) {
	gw := in.Gateway
	name := ResourceName(gw.Name)
	cluster := "gateway/" + gw.Namespace + "/" + gw.Name
	boot, err := Bootstrap(cluster, in.XDSAddress, in.Identity != nil, fleetLimits(in.Params))
	if err != nil {
		return nil, err
	}
	data := map[string]string{"envoy.yaml": boot}
	hashed := boot
	if in.Identity != nil {
		sds, err := bootstrap.EnvoySDS(fleetCredentials())
		if err != nil {
			return nil, err
		}
		// The bundle is only the agent's first trust: a new one is applied
		// without restarting the fleet, so it stays out of the hash.
		data[fleetSDSKey], data[fleetXDSCAKey] = string(sds), string(in.Identity.Bundle())
		hashed += string(sds)
	}
	selector := map[string]string{LabelName: nameValue, LabelGatewayUID: string(gw.UID)}
	own := map[string]string{
		LabelName: nameValue, LabelGatewayUID: string(gw.UID), LabelManagedBy: managedByValue,
		LabelComponent: "proxy", LabelController: controllerLabel(in.ControllerName),
		LabelGatewayName: labelValue(gw.Name), LabelGatewayClassName: labelValue(string(gw.Spec.GatewayClassName)),
	}
	var userL, userA map[string]string
	var dropped []string
	if inf := gw.Spec.Infrastructure; inf != nil {
		var d1, d2 []string
		userL, d1 = userLabels(inf.Labels)
		userA, d2 = userAnnotations(inf.Annotations)
		dropped = append(d1, d2...)
		slices.Sort(dropped)
	}
	labels := merge(userL, own) // ours win
	owner := metav1ac.OwnerReference().WithAPIVersion(gwapiv1.GroupVersion.String()).WithKind("Gateway").
		WithName(gw.Name).WithUID(gw.UID).WithController(true)
	r := &rendered{Name: name, Dropped: dropped}

	sa := corev1ac.ServiceAccount(name, gw.Namespace).WithLabels(labels).WithAnnotations(userA).
		WithOwnerReferences(owner).WithAutomountServiceAccountToken(false)
	cm := corev1ac.ConfigMap(name, gw.Namespace).WithLabels(labels).WithAnnotations(userA).
		WithOwnerReferences(owner).WithData(data)
	svc := renderService(gw, name, in.Ports, in.Params, labels, merge(userA, in.Params.ServiceAnnotations), selector).
		WithOwnerReferences(owner)
	dep := renderDeployment(deploymentInput{
		Name: name, Namespace: gw.Namespace, Cluster: cluster, Params: in.Params, Ports: in.Ports,
		Labels: labels, Annotations: userA, Selector: selector, ConfigHash: shortHash(hashed),
		Identity: in.Identity, XDSAddress: in.XDSAddress,
	}).WithOwnerReferences(owner)
	r.Objects = []runtime.ApplyConfiguration{sa, cm, svc, dep}
	return r, nil
}

// merge returns a copy of a with b's entries added (b wins).
func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

func renderService(gw *gwapiv1.Gateway, name string, ports []listenerPort, p Params, labels, annotations, selector map[string]string) *corev1ac.ServiceApplyConfiguration {
	spec := corev1ac.ServiceSpec().WithType(p.ServiceType).WithSelector(selector)
	for _, lp := range ports {
		spec.WithPorts(corev1ac.ServicePort().
			WithName(strings.ToLower(string(lp.Protocol)) + "-" + strconv.Itoa(int(lp.Port))).
			WithProtocol(lp.Protocol).WithPort(lp.Port).WithTargetPort(intstr.FromInt32(lp.Port)))
	}
	if p.ServiceType == corev1.ServiceTypeLoadBalancer || p.ServiceType == corev1.ServiceTypeNodePort {
		if p.ExternalTrafficPolicy != "" {
			spec.WithExternalTrafficPolicy(p.ExternalTrafficPolicy)
		}
	}
	if p.ServiceType == corev1.ServiceTypeLoadBalancer && p.LoadBalancerClass != "" {
		spec.WithLoadBalancerClass(p.LoadBalancerClass)
	}
	// spec.addresses: the first IP becomes the load balancer's requested IP;
	// other Service types expose every IP as an external IP.
	ips := specIPs(gw)
	switch {
	case len(ips) == 0:
	case p.ServiceType == corev1.ServiceTypeLoadBalancer:
		spec.WithLoadBalancerIP(ips[0])
	default:
		spec.WithExternalIPs(ips...)
	}
	return corev1ac.Service(name, gw.Namespace).WithLabels(labels).WithAnnotations(annotations).WithSpec(spec)
}

// specIPs returns the IP addresses requested in gw.spec.addresses; an entry
// without a value asks for any address and requests none in particular.
func specIPs(gw *gwapiv1.Gateway) []string {
	var ips []string
	for _, a := range gw.Spec.Addresses {
		if a.Value != "" && (a.Type == nil || *a.Type == gwapiv1.IPAddressType) {
			ips = append(ips, a.Value)
		}
	}
	return ips
}

// deploymentInput is what renderDeployment needs.
type deploymentInput struct {
	Name, Namespace, Cluster string
	Params                   Params
	Ports                    []listenerPort
	Labels, Annotations      map[string]string
	Selector                 map[string]string
	ConfigHash               string
	Identity                 *FleetIdentity
	XDSAddress               string
}

func renderDeployment(in deploymentInput) *appsv1ac.DeploymentApplyConfiguration {
	podAnnotations := merge(merge(scrapeAnnotations(MetricsPort), in.Annotations), map[string]string{"gantry.io/bootstrap-hash": in.ConfigHash})
	container := corev1ac.Container().WithName("envoy").WithImage(in.Params.EnvoyImage).
		WithArgs("--config-path", "/etc/envoy/envoy.yaml",
			"--service-cluster", in.Cluster, "--service-node", "$(POD_NAME)",
			"--drain-time-s", strconv.FormatInt(in.Params.DrainSeconds, 10),
			// One Envoy per container: no hot restart, no shared memory.
			"--disable-hot-restart",
			"--log-level", "info").
		WithEnv(
			corev1ac.EnvVar().WithName("POD_NAME").WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("metadata.name"))),
			corev1ac.EnvVar().WithName("POD_NAMESPACE").WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("metadata.namespace"))),
		).
		WithPorts(containerPorts(in.Ports)...).
		WithReadinessProbe(corev1ac.Probe().WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/ready").WithPort(intstr.FromString("ready"))).
			WithPeriodSeconds(5).WithFailureThreshold(2)).
		// Graceful drain: on termination the pod leaves the Service's
		// endpoints while Envoy keeps serving for DrainSeconds (a native
		// sleep hook: the default image is distroless, with no shell).
		WithLifecycle(corev1ac.Lifecycle().WithPreStop(corev1ac.LifecycleHandler().WithSleep(
			corev1ac.SleepAction().WithSeconds(in.Params.DrainSeconds)))).
		WithResources(resources(in.Params)).
		WithSecurityContext(corev1ac.SecurityContext().WithAllowPrivilegeEscalation(false).WithReadOnlyRootFilesystem(true).
			WithRunAsNonRoot(true).WithCapabilities(corev1ac.Capabilities().WithDrop("ALL"))).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("bootstrap").WithMountPath("/etc/envoy").WithReadOnly(true),
			corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
		)
	if in.Identity != nil {
		container.WithVolumeMounts(envoyCertMount())
	}
	pod := corev1ac.PodSpec().
		WithServiceAccountName(in.Name).WithAutomountServiceAccountToken(false).
		WithTerminationGracePeriodSeconds(in.Params.DrainSeconds+15).
		WithSecurityContext(corev1ac.PodSecurityContext().WithRunAsNonRoot(true).WithRunAsUser(65532).WithRunAsGroup(65532).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)).
			// Listeners below 1024 without NET_BIND_SERVICE.
			WithSysctls(corev1ac.Sysctl().WithName("net.ipv4.ip_unprivileged_port_start").WithValue("0"))).
		WithContainers(container).
		WithVolumes(
			corev1ac.Volume().WithName("bootstrap").WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(in.Name)),
			corev1ac.Volume().WithName("tmp").WithEmptyDir(corev1ac.EmptyDirVolumeSource()),
		)
	if in.Identity != nil {
		withFleetIdentity(pod, in)
	}
	return appsv1ac.Deployment(in.Name, in.Namespace).WithLabels(in.Labels).WithAnnotations(in.Annotations).
		WithSpec(appsv1ac.DeploymentSpec().WithReplicas(in.Params.Replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(in.Selector)).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(in.Labels).WithAnnotations(podAnnotations).WithSpec(pod)))
}

func containerPorts(ports []listenerPort) []*corev1ac.ContainerPortApplyConfiguration {
	var out []*corev1ac.ContainerPortApplyConfiguration
	for _, lp := range ports {
		out = append(out, corev1ac.ContainerPort().WithContainerPort(lp.Port).WithProtocol(lp.Protocol))
	}
	return append(out,
		corev1ac.ContainerPort().WithName("metrics").WithContainerPort(MetricsPort).WithProtocol(corev1.ProtocolTCP),
		corev1ac.ContainerPort().WithName("ready").WithContainerPort(ReadyPort).WithProtocol(corev1.ProtocolTCP))
}

func resources(p Params) *corev1ac.ResourceRequirementsApplyConfiguration {
	r := corev1ac.ResourceRequirements()
	if len(p.Resources.Requests) > 0 {
		r.WithRequests(p.Resources.Requests)
	}
	if len(p.Resources.Limits) > 0 {
		r.WithLimits(p.Resources.Limits)
	}
	return r
}
