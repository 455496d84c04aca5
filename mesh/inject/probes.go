package inject

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantryproxy/gantry/mesh/agent"
)

// probeKinds are the probes of a container, in order, with the path
// segment of their rewritten form.
var probeKinds = []struct {
	field, segment string
	get            func(c *corev1.Container) *corev1.Probe
}{
	{field: "livenessProbe", segment: "livez", get: func(c *corev1.Container) *corev1.Probe { return c.LivenessProbe }},
	{field: "readinessProbe", segment: "readyz", get: func(c *corev1.Container) *corev1.Probe { return c.ReadinessProbe }},
	{field: "startupProbe", segment: "startupz", get: func(c *corev1.Container) *corev1.Probe { return c.StartupProbe }},
}

// rewriteProbes records the HTTP, TCP and gRPC probes of the pod's
// application containers and returns the operations that point them at the
// agent's probe port instead (GET /app-health/<container>/<kind>), so they
// keep working when inbound traffic is captured. Exec probes, probes that
// name another host and named ports the container does not declare are left
// as they are. The table also holds the proxy's own readiness.
func rewriteProbes(pod *corev1.Pod, cfg Config) (agent.Probes, []Operation) {
	probes := agent.Probes{agent.ProxyReadyPath: {HTTPGet: &agent.HTTPGetProbe{Path: "/ready", Port: cfg.AdminPort}}}
	var ops []Operation
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, k := range probeKinds {
			p := k.get(c)
			if p == nil {
				continue
			}
			target, ok := recordProbe(c, p)
			if !ok {
				continue
			}
			path := agent.AppProbePrefix + c.Name + "/" + k.segment
			probes[path] = target
			rewritten := p.DeepCopy()
			rewritten.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(agent.ProbePort), Scheme: corev1.URISchemeHTTP,
			}}
			ops = append(ops, Operation{Op: "add", Path: "/spec/containers/" + strconv.Itoa(i) + "/" + k.field, Value: rewritten})
		}
	}
	return probes, ops
}

// recordProbe returns the agent's form of p, false when p stays as is.
func recordProbe(c *corev1.Container, p *corev1.Probe) (agent.Probe, bool) {
	out := agent.Probe{TimeoutSeconds: p.TimeoutSeconds}
	switch {
	case p.HTTPGet != nil:
		port, ok := resolvePort(c, p.HTTPGet.Port)
		if !ok || p.HTTPGet.Host != "" {
			return out, false
		}
		h := &agent.HTTPGetProbe{Path: p.HTTPGet.Path, Port: port, Scheme: string(p.HTTPGet.Scheme)}
		for _, hd := range p.HTTPGet.HTTPHeaders {
			h.Headers = append(h.Headers, agent.ProbeHeader{Name: hd.Name, Value: hd.Value})
		}
		out.HTTPGet = h
	case p.TCPSocket != nil:
		port, ok := resolvePort(c, p.TCPSocket.Port)
		if !ok || p.TCPSocket.Host != "" {
			return out, false
		}
		out.TCPSocket = &agent.TCPSocketProbe{Port: port}
	case p.GRPC != nil:
		g := &agent.GRPCProbe{Port: p.GRPC.Port}
		if p.GRPC.Service != nil {
			g.Service = *p.GRPC.Service
		}
		out.GRPC = g
	default:
		return out, false
	}
	return out, true
}

// resolvePort turns a probe's port (a number, or the name of one of the
// container's ports) into a number.
func resolvePort(c *corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0 && port.IntVal <= 65535
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort, true
		}
	}
	return 0, false
}
