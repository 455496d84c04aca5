// Package kubestandin stands in, on an API server without nodes (envtest),
// for the parts of a cluster that Gantry's conformance run needs but that
// no Go module provides without a container runtime: a kubelet that runs
// every pod (RunNode) and a load balancer for LoadBalancer Services
// (RunLoadBalancer). kube-controller-manager does the rest (Deployments,
// ReplicaSets, EndpointSlices, garbage collection).
//
// Nothing runs in the pods and nothing listens on the addresses: they are
// status only, which is what status conformance tests read.
package kubestandin

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NodeOptions configure RunNode.
type NodeOptions struct {
	// Name of the Node; default "standin".
	Name string
	// PodCIDR is where made-up pod IPs come from (never dialled: nothing
	// runs in the pods); default 10.244.0.0/16. EndpointSlices refuse
	// loopback addresses, so pods cannot use 127.0.0.0/8.
	PodCIDR netip.Prefix
	// Errorf reports errors (the caller's logger); nil drops them.
	Errorf func(format string, args ...any)
}

// RunNode registers a Ready Node and then, until ctx ends, plays its
// kubelet: it binds every unscheduled pod to the Node, marks bound pods
// Running and Ready with a made-up pod IP, and completes the deletion of
// pods being deleted (a kubelet's last step).
func RunNode(ctx context.Context, cs kubernetes.Interface, o NodeOptions) error {
	if o.Name == "" {
		o.Name = "standin"
	}
	if !o.PodCIDR.IsValid() {
		o.PodCIDR = netip.MustParsePrefix("10.244.0.0/16")
	}
	if o.Errorf == nil {
		o.Errorf = func(string, ...any) {}
	}
	if err := registerNode(ctx, cs, o.Name); err != nil {
		return err
	}
	k := &kubelet{cs: cs, opts: o, next: o.PodCIDR.Addr().Next(), ips: map[string]netip.Addr{}}
	factory := informers.NewSharedInformerFactory(cs, 0)
	pods := factory.Core().V1().Pods()
	return runQueue(ctx, factory, pods.Informer(), func(key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return err
		}
		pod, err := pods.Lister().Pods(ns).Get(name)
		if apierrors.IsNotFound(err) {
			k.release(key)
			return nil
		}
		if err != nil {
			return err
		}
		return k.sync(ctx, key, pod)
	}, o.Errorf)
}

func registerNode(ctx context.Context, cs kubernetes.Interface, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelTopologyZone: "standin",
	}}}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("register node %s: %w", name, err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("1000"),
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "stand-in kubelet", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node %s status: %w", name, err)
	}
	return nil
}

// kubelet is the stand-in's per-pod logic.
type kubelet struct {
	cs   kubernetes.Interface
	opts NodeOptions
	mu   sync.Mutex
	next netip.Addr
	ips  map[string]netip.Addr // pod key -> its IP
}

func (k *kubelet) sync(ctx context.Context, key string, pod *corev1.Pod) error {
	pods := k.cs.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: k.opts.Name}}, metav1.CreateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName != k.opts.Name || podReady(pod):
		return nil
	}
	ip, err := k.ip(key)
	if err != nil {
		return err
	}
	_, err = pods.UpdateStatus(ctx, runningStatus(pod, ip), metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // a newer version is queued
	}
	return err
}

// ip returns the pod's IP, allocating the next free one.
func (k *kubelet) ip(key string) (netip.Addr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ip, ok := k.ips[key]; ok {
		return ip, nil
	}
	ip := k.next
	if !k.opts.PodCIDR.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("pod %s: pod CIDR %s exhausted", key, k.opts.PodCIDR)
	}
	k.next = ip.Next()
	k.ips[key] = ip
	return ip, nil
}

func (k *kubelet) release(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.ips, key)
}

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// runningStatus is pod with every container started and ready.
func runningStatus(pod *corev1.Pod, ip netip.Addr) *corev1.Pod {
	p := pod.DeepCopy()
	now := metav1.NewTime(time.Now())
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP, p.Status.HostIPs = "127.0.0.1", []corev1.HostIP{{IP: "127.0.0.1"}}
	p.Status.PodIP, p.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	p.Status.StartTime = &now
	p.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return p
}

// runQueue runs sync for every key of inf's objects (and every change to
// them) from a rate-limited work queue until ctx ends.
func runQueue(ctx context.Context, factory informers.SharedInformerFactory, inf cache.SharedIndexInformer, sync func(key string) error, errorf func(string, ...any)) error {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	go func() { <-ctx.Done(); q.ShutDown() }()
	for {
		key, quit := q.Get()
		if quit {
			return nil
		}
		if err := sync(key); err != nil {
			errorf("stand-in: %s: %v", key, err)
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}
