package loop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestMeshEndpointsScopedEqualsFull is TestScopedEqualsFull for what the
// mesh derives from EndpointSlices: mesh groups connected in both
// namespaces (gRPC and Envoy flavors), half the runs with mesh mTLS, pods
// behind the endpoints, and mostly EndpointSlice-only changes (addresses,
// readiness, pod references, port names, IPv6 slices, slices moved between
// Services) mixed with headless Services, pod changes and the random
// changes of randWorld. After every step the loop must publish and serve
// exactly what a new loop translating the same Set in full does.
func TestMeshEndpointsScopedEqualsFull(t *testing.T) {
	seeds, steps := 30, 40
	if testing.Short() {
		seeds = 6
	}
	keys := []cache.Key{{Group: "mesh/ns-a", Flavor: cache.FlavorGRPC}, {Group: "mesh/ns-b", Flavor: cache.FlavorEnvoy}}
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 1414))
			w := &meshRandWorld{randWorld: newRandWorld(r), pods: map[string]*corev1.Pod{}}
			w.policies = seed%3 == 0
			for i := range 4 {
				w.putPod(r, i)
			}
			newLoop := func() *Loop {
				o := Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName}
				if seed%2 == 1 {
					o.MeshTLS = &meshtranslate.MTLS{}
				}
				l := New(o)
				for _, k := range keys {
					l.addKey(k)
				}
				return l
			}
			inc := newLoop()
			inc.process(context.Background(), Event{Set: w.set(), Initial: true, ChangedAt: time.Now()})
			for step := range steps {
				what, endpointsOnly := w.mutate(r)
				set := w.set()
				inc.process(context.Background(), Event{Set: set, EndpointsOnly: endpointsOnly, ChangedAt: time.Now()})
				full := newLoop()
				full.process(context.Background(), Event{Set: set, Initial: true, ChangedAt: time.Now()})
				if diff := compareLoops(inc, full); diff != "" {
					t.Fatalf("step %d (%s): scoped and full translation differ: %s", step, what, diff)
				}
			}
		})
	}
}

// meshRandWorld is randWorld with pods behind the endpoints.
type meshRandWorld struct {
	*randWorld
	pods map[string]*corev1.Pod
}

func (w *meshRandWorld) set() *resource.Set {
	s := w.randWorld.set()
	s.Pods = plist.Of(values(w.pods)...)
	return s
}

// mutate makes mostly EndpointSlice-only changes; it says what it did and
// whether only EndpointSlices changed.
func (w *meshRandWorld) mutate(r *rand.Rand) (string, bool) {
	w.gen++
	switch op := r.IntN(20); {
	case op < 12:
		k, ok := pick(r, w.services)
		if !ok {
			return w.randWorld.mutate(r)
		}
		w.putMeshSlice(r, k)
		return "mesh slice " + k, true
	case op < 13:
		return w.moveSlice(r), true
	case op < 14:
		k, ok := pick(r, w.services)
		if !ok {
			return "nothing", false
		}
		svc := w.services[k].DeepCopy()
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			svc.Spec.ClusterIP = "10.96.1." + strconv.Itoa(1+r.IntN(9))
		} else {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		w.services[k] = svc
		return "headless toggled " + k, false
	case op < 15:
		w.putPod(r, r.IntN(4))
		return "pod", false
	default:
		return w.randWorld.mutate(r)
	}
}

// putPod puts pod-i in ns-a or ns-b, as one of two service accounts.
func (w *meshRandWorld) putPod(r *rand.Rand, i int) {
	name := "pod-" + strconv.Itoa(i)
	w.pods[name] = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: randNS[i%2]},
		Spec:       corev1.PodSpec{ServiceAccountName: "sa-" + strconv.Itoa(r.IntN(2))},
	}
}

// putMeshSlice gives Service svc a new EndpointSlice: one to three
// endpoints at addresses that other slices may share, ready or not, each
// naming a pod or none; sometimes IPv6, another port name or an
// appProtocol.
func (w *meshRandWorld) putMeshSlice(r *rand.Rand, svc string) {
	s := w.services[svc]
	port, pname := int32(9000+r.IntN(2)), []string{"http", "grpc", "tcp"}[r.IntN(3)]
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: s.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port}},
	}
	if r.IntN(4) == 0 {
		proto := "kubernetes.io/h2c"
		es.Ports[0].AppProtocol = &proto
	}
	v6 := r.IntN(8) == 0
	if v6 {
		es.AddressType = discoveryv1.AddressTypeIPv6
	}
	for range 1 + r.IntN(3) {
		ready := r.IntN(4) != 0
		addr := fmt.Sprintf("10.1.%d.%d", r.IntN(2), 1+r.IntN(4))
		if v6 {
			addr = fmt.Sprintf("fd00::%d", 1+r.IntN(4))
		}
		ep := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
		if i := r.IntN(6); i < 4 {
			ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "pod-" + strconv.Itoa(i)}
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	w.slices[svc] = es
}
