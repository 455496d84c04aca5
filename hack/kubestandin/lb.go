package kubestandin

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// LoadBalancerOptions configure RunLoadBalancer. Both ranges must lie in
// 127.0.0.0/8: the stand-in hands out loopback addresses only.
type LoadBalancerOptions struct {
	// Dynamic is the range [First, Last] addresses are assigned from when a
	// Service requests none.
	Dynamic [2]netip.Addr
	// Static is the range of addresses that may be requested
	// (spec.loadBalancerIP). A request outside it, or for an address in use,
	// is never assigned: the Service stays pending, as behind a load balancer
	// that cannot use the address.
	Static [2]netip.Addr
	Errorf func(format string, args ...any)
}

// RunLoadBalancer assigns, until ctx ends, an ingress IP to every
// LoadBalancer Service without a loadBalancerClass: the requested one when
// it is in the static range and free, else the next free dynamic one.
func RunLoadBalancer(ctx context.Context, cs kubernetes.Interface, o LoadBalancerOptions) error {
	for _, r := range [][2]netip.Addr{o.Dynamic, o.Static} {
		if !r[0].Is4() || !r[1].Is4() || !loopback.Contains(r[0]) || !loopback.Contains(r[1]) || r[1].Less(r[0]) {
			return fmt.Errorf("load balancer range %v-%v: want a range in %s", r[0], r[1], loopback)
		}
	}
	if o.Errorf == nil {
		o.Errorf = func(string, ...any) {}
	}
	lb := &balancer{cs: cs, opts: o, owner: map[netip.Addr]string{}, addr: map[string]netip.Addr{}}
	factory := informers.NewSharedInformerFactory(cs, 0)
	svcs := factory.Core().V1().Services()
	return runQueue(ctx, factory, svcs.Informer(), func(key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return err
		}
		svc, err := svcs.Lister().Services(ns).Get(name)
		if apierrors.IsNotFound(err) || (err == nil && (svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.LoadBalancerClass != nil)) {
			lb.release(key)
			return nil
		}
		if err != nil {
			return err
		}
		return lb.sync(ctx, key, svc)
	}, o.Errorf)
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// balancer tracks which Service holds which address.
type balancer struct {
	cs    kubernetes.Interface
	opts  LoadBalancerOptions
	mu    sync.Mutex
	owner map[netip.Addr]string // address -> Service key
	addr  map[string]netip.Addr // Service key -> address
}

func (b *balancer) sync(ctx context.Context, key string, svc *corev1.Service) error {
	want, ok := b.assign(key, svc.Spec.LoadBalancerIP) //nolint:staticcheck // the field Gantry sets
	var ingress []corev1.LoadBalancerIngress
	if ok {
		ingress = []corev1.LoadBalancerIngress{{IP: want.String(), IPMode: new(corev1.LoadBalancerIPModeVIP)}}
	}
	cur := svc.Status.LoadBalancer.Ingress
	if len(cur) == len(ingress) && (len(cur) == 0 || cur[0].IP == ingress[0].IP) {
		return nil
	}
	s := svc.DeepCopy()
	s.Status.LoadBalancer.Ingress = ingress
	_, err := b.cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // a newer version is queued
	}
	return err
}

// assign returns the Service's address: the requested one if it is usable
// (in the static range, not another Service's), the one it holds, or the
// next free dynamic one. ok is false when a request cannot be met or the
// dynamic range is exhausted.
func (b *balancer) assign(key, requested string) (netip.Addr, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held, holds := b.addr[key]
	if requested != "" {
		ip, err := netip.ParseAddr(requested)
		if err != nil || !inRange(ip, b.opts.Static) || (b.owner[ip] != "" && b.owner[ip] != key) {
			b.releaseLocked(key)
			return netip.Addr{}, false
		}
		b.releaseLocked(key)
		b.owner[ip], b.addr[key] = key, ip
		return ip, true
	}
	if holds && inRange(held, b.opts.Dynamic) {
		return held, true
	}
	b.releaseLocked(key)
	for ip := b.opts.Dynamic[0]; inRange(ip, b.opts.Dynamic); ip = ip.Next() {
		if b.owner[ip] == "" {
			b.owner[ip], b.addr[key] = key, ip
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (b *balancer) release(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(key)
}

func (b *balancer) releaseLocked(key string) {
	if ip, ok := b.addr[key]; ok {
		delete(b.owner, ip)
		delete(b.addr, key)
	}
}

func inRange(ip netip.Addr, r [2]netip.Addr) bool {
	return ip.IsValid() && !ip.Less(r[0]) && !r[1].Less(ip)
}
