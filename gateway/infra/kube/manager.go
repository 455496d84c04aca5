// Package kube runs each Gateway's Envoy fleet in the cluster: per Gateway
// a ServiceAccount, a ConfigMap with the Envoy bootstrap, a Deployment and a
// Service, all in the Gateway's namespace and controlled by it. Nothing
// else is ever created (guard).
package kube

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// DefaultControllerName is the GatewayClass controllerName Gantry acts on.
const DefaultControllerName = "gantryproxy.io/gateway-controller"

// Options configure a Manager. Controller flags map onto them.
type Options struct {
	ControllerName string
	// XDSServiceAddress is what Envoy dials for xDS (host:port).
	XDSServiceAddress string
	// Params are the controller-wide defaults; zero means DefaultParams().
	Params *Params
	// Namespaces limits cleanup to these namespaces (--watch-namespaces).
	Namespaces []string
	// FieldOwner is the server-side apply field manager; default "gantry".
	FieldOwner string
	// Reader, when set (the provider's cache), serves address lookups.
	Reader client.Reader
	Logger *slog.Logger
	// Identity, when set, makes every fleet authenticate to Gantry
	// (gantry serve always sets it); nil renders plaintext fleets.
	Identity *FleetIdentity
}

// Manager applies and removes the fleets. It is safe for one goroutine.
type Manager struct {
	client client.Client
	opts   Options

	mu      sync.Mutex
	applied map[types.UID]string // Gateway UID -> hash of what was last applied
	// cleaned is the set of live Gateway UIDs of the last successful
	// cleanup; cleanup runs again only when it changes.
	cleaned map[string]bool
}

// New returns a Manager writing through c.
func New(c client.Client, opts Options) *Manager {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	if opts.XDSServiceAddress == "" {
		opts.XDSServiceAddress = DefaultXDSServiceAddress
	}
	if opts.Params == nil {
		p := DefaultParams()
		opts.Params = &p
	}
	if opts.FieldOwner == "" {
		opts.FieldOwner = "gantry"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{client: c, opts: opts, applied: map[types.UID]string{}}
}

// Forget drops the memory of what was applied, so that the next Reconcile
// applies everything again (call it when leadership is regained).
func (m *Manager) Forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied = map[types.UID]string{}
	m.cleaned = nil
}

// Reconcile makes the cluster hold exactly one fleet per Gateway of
// Gantry's classes in set: it applies what changed and deletes what belongs
// to Gateways no longer in set (deleted, or moved to another class). One
// Gateway's error does not stop the others.
func (m *Manager) Reconcile(ctx context.Context, set *resource.Set) error {
	return m.ReconcileAccepted(ctx, set, Verdict{})
}

// Verdict is what translation decided, which the infrastructure follows.
type Verdict struct {
	// Classes are the GatewayClasses translation accepted, by name (nil:
	// every class with Gantry's controllerName): the Gateways of a rejected
	// class get no fleet, and lose the one they had.
	Classes map[string]bool
	// Listeners are the listeners translation accepted (nil: all of them):
	// a rejected listener, or one of a rejected ListenerSet, adds no port
	// to the Service or the Deployment.
	Listeners map[ListenerKey]bool
}

// ListenerKey names one listener of a Gateway (Kind "Gateway") or of a
// ListenerSet (Kind "ListenerSet").
type ListenerKey struct {
	Kind, Namespace, Name, Listener string
}

// ReconcileAccepted is Reconcile limited to what translation accepted.
func (m *Manager) ReconcileAccepted(ctx context.Context, set *resource.Set, v Verdict) error {
	accepted := v.Classes
	classes := map[string]*gwapiv1.GatewayClass{}
	for c := range set.GatewayClasses.Values() {
		if string(c.Spec.ControllerName) == m.opts.ControllerName && (accepted == nil || accepted[c.Name]) {
			classes[c.Name] = c
		}
	}
	configMaps := map[types.NamespacedName]*corev1.ConfigMap{}
	for cm := range set.ConfigMaps.Values() {
		configMaps[types.NamespacedName{Namespace: cm.Namespace, Name: cm.Name}] = cm
	}
	gateways := set.Gateways.Slice()
	slices.SortFunc(gateways, func(a, b *gwapiv1.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	live := map[string]bool{}
	var errs []error
	for _, gw := range gateways {
		class := classes[string(gw.Spec.GatewayClassName)]
		if class == nil || gw.UID == "" {
			continue
		}
		live[string(gw.UID)] = true
		if gw.DeletionTimestamp != nil {
			continue
		}
		if err := m.reconcileGateway(ctx, gw, class, set, configMaps, v.Listeners); err != nil {
			errs = append(errs, fmt.Errorf("Gateway %s/%s: %w", gw.Namespace, gw.Name, err))
		}
	}
	m.mu.Lock()
	same := m.cleaned != nil && maps.Equal(m.cleaned, live)
	m.mu.Unlock()
	if !same {
		if err := m.cleanup(ctx, live); err != nil {
			errs = append(errs, err)
		} else {
			m.mu.Lock()
			m.cleaned = live
			m.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) reconcileGateway(ctx context.Context, gw *gwapiv1.Gateway, class *gwapiv1.GatewayClass, set *resource.Set, cms map[types.NamespacedName]*corev1.ConfigMap, listeners map[ListenerKey]bool) error {
	params, err := m.params(gw, class, cms)
	if err != nil {
		return err
	}
	r, err := render(renderInput{
		Gateway: gw, Ports: listenerPorts(gw, attachedSets(gw, set.ListenerSets.Slice()), listeners), Params: params,
		ControllerName: m.opts.ControllerName, XDSAddress: m.opts.XDSServiceAddress, Identity: m.opts.Identity,
	})
	if err != nil {
		return err
	}
	if len(r.Dropped) > 0 {
		m.opts.Logger.Warn("infra: ignored reserved or invalid infrastructure labels/annotations",
			"gateway", gw.Namespace+"/"+gw.Name, "keys", r.Dropped)
	}
	h := sha256.New()
	for _, obj := range r.Objects {
		if _, err := guard(gw, obj); err != nil {
			return err
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		h.Write(data)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	m.mu.Lock()
	same := m.applied[gw.UID] == sum
	m.mu.Unlock()
	if same {
		return nil
	}
	for _, obj := range r.Objects {
		if err := m.client.Apply(ctx, obj, client.FieldOwner(m.opts.FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", r.Name, err)
		}
	}
	m.mu.Lock()
	m.applied[gw.UID] = sum
	m.mu.Unlock()
	m.opts.Logger.Info("infra: applied", "gateway", gw.Namespace+"/"+gw.Name, "name", r.Name)
	return nil
}

// params layers the controller defaults, the class's parameters ConfigMap
// and the Gateway's. References and keys are checked by gateway/infra/params,
// as translation checks them.
func (m *Manager) params(gw *gwapiv1.Gateway, class *gwapiv1.GatewayClass, cms map[types.NamespacedName]*corev1.ConfigMap) (Params, error) {
	p := *m.opts.Params
	var classCM *corev1.ConfigMap
	if ref := class.Spec.ParametersRef; ref != nil {
		ns, name, err := params.ClassRef(ref)
		if err != nil {
			return p, fmt.Errorf("GatewayClass %s: %w", class.Name, err)
		}
		classCM = cms[types.NamespacedName{Namespace: ns, Name: name}]
		if classCM == nil {
			return p, fmt.Errorf("GatewayClass %s: spec.parametersRef: ConfigMap %s/%s not found", class.Name, ns, name)
		}
		if p, err = p.Apply(classCM); err != nil {
			return p, err
		}
	}
	name, ok, err := params.GatewayRef(gw)
	if err != nil || !ok {
		return p, err
	}
	cm := cms[types.NamespacedName{Namespace: gw.Namespace, Name: name}]
	if cm == nil {
		return p, fmt.Errorf("spec.infrastructure.parametersRef: ConfigMap %s/%s not found", gw.Namespace, name)
	}
	if err := params.CheckGatewayKeys(classCM, cm); err != nil {
		return p, fmt.Errorf("spec.infrastructure.parametersRef: %w", err)
	}
	return p.Apply(cm)
}

// attachedSets returns the ListenerSets whose parent is gw.
func attachedSets(gw *gwapiv1.Gateway, sets []*gwapiv1.ListenerSet) []*gwapiv1.ListenerSet {
	var out []*gwapiv1.ListenerSet
	for _, ls := range sets {
		ref := ls.Spec.ParentRef
		ns := ls.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if ns == gw.Namespace && string(ref.Name) == gw.Name && (ref.Kind == nil || *ref.Kind == "Gateway") {
			out = append(out, ls)
		}
	}
	return out
}

// managedLists are the kinds cleanup looks at: exactly the allowed kinds.
var managedLists = []func() client.ObjectList{
	func() client.ObjectList { return &corev1.ServiceAccountList{} },
	func() client.ObjectList { return &corev1.ConfigMapList{} },
	func() client.ObjectList { return &corev1.ServiceList{} },
	func() client.ObjectList { return &appsv1.DeploymentList{} },
}

// cleanup deletes Gantry's objects whose Gateway is not live. Only objects
// carrying this controller's labels and controlled by a Gateway are
// considered. Owner references also let the garbage collector remove them
// when a Gateway is deleted.
func (m *Manager) cleanup(ctx context.Context, live map[string]bool) error {
	sel := client.MatchingLabels{LabelManagedBy: managedByValue, LabelController: controllerLabel(m.opts.ControllerName)}
	nss := m.opts.Namespaces
	if len(nss) == 0 {
		nss = []string{""}
	}
	var errs []error
	for _, newList := range managedLists {
		for _, ns := range nss {
			list := newList()
			if err := m.client.List(ctx, list, sel, client.InNamespace(ns)); err != nil {
				errs = append(errs, fmt.Errorf("infra cleanup: list: %w", err))
				continue
			}
			errs = append(errs, m.deleteOrphans(ctx, list, live)...)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) deleteOrphans(ctx context.Context, list client.ObjectList, live map[string]bool) []error {
	var errs []error
	items, err := metaItems(list)
	if err != nil {
		return []error{err}
	}
	for _, obj := range items {
		owner := metav1.GetControllerOf(obj)
		if owner == nil || owner.Kind != "Gateway" || owner.APIVersion != gwapiv1.GroupVersion.String() {
			continue
		}
		if live[obj.GetLabels()[LabelGatewayUID]] || obj.GetDeletionTimestamp() != nil {
			continue
		}
		uid := obj.GetUID()
		err := m.client.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("infra cleanup: delete %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err))
			continue
		}
		m.mu.Lock()
		delete(m.applied, owner.UID)
		m.mu.Unlock()
		m.opts.Logger.Info("infra: deleted", "kind", fmt.Sprintf("%T", obj), "object", obj.GetNamespace()+"/"+obj.GetName(), "gateway", owner.Name)
	}
	return errs
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *corev1.ServiceAccountList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("infra cleanup: unexpected list %T", list)
	}
	return out, nil
}

// GatewayAddresses returns the addresses bound to gw: those of its
// generated Service (load-balancer ingress, or cluster and external IPs for
// other Service types). Without spec.addresses every bound address is
// reported. With spec.addresses, the bound ones among the requested values,
// then bound addresses of the types that entries without a value ask for.
// A requested value that is not bound makes the Gateway AddressNotUsable;
// no bound address at all, or none of a type an entry without a value asks
// for, AddressNotAssigned.
func (m *Manager) GatewayAddresses(ctx context.Context, gw *gwapiv1.Gateway) (status.BoundAddresses, error) {
	bound, where, err := m.serviceAddresses(ctx, gw)
	if err != nil {
		return status.BoundAddresses{}, err
	}
	if len(gw.Spec.Addresses) == 0 {
		if len(bound) == 0 {
			return notAssigned(nil, "no address is assigned to "+where+" yet"), nil
		}
		return status.BoundAddresses{Addresses: bound}, nil
	}
	var out []gwapiv1.GatewayStatusAddress
	var unusable []string
	var assign []gwapiv1.AddressType
	for i, a := range gw.Spec.Addresses {
		t := ptr.Deref(a.Type, gwapiv1.IPAddressType)
		switch {
		case a.Value == "":
			if !slices.Contains(assign, t) {
				assign = append(assign, t)
			}
		case isListed(bound, gwapiv1.GatewayStatusAddress{Type: &t, Value: a.Value}):
			if want := (gwapiv1.GatewayStatusAddress{Type: &t, Value: a.Value}); !isListed(out, want) {
				out = append(out, want)
			}
		default:
			unusable = append(unusable, fmt.Sprintf("spec.addresses[%d] (%s %s)", i, t, a.Value))
		}
	}
	var missing []string
	for _, t := range assign {
		found := false
		for _, a := range bound {
			if *a.Type != t {
				continue
			}
			found = true
			if !isListed(out, a) {
				out = append(out, a)
			}
		}
		if !found {
			missing = append(missing, string(t))
		}
	}
	switch {
	case len(unusable) > 0:
		return status.BoundAddresses{Addresses: out, Reason: gwapiv1.GatewayReasonAddressNotUsable,
			Message: strings.Join(unusable, ", ") + " not assigned to " + where + " (check that the load balancer can assign it)"}, nil
	case len(missing) > 0:
		return notAssigned(out, "no "+strings.Join(missing, ", ")+" address is assigned to "+where+" yet"), nil
	}
	return status.BoundAddresses{Addresses: out}, nil
}

// isListed reports whether as has a's type and value.
func isListed(as []gwapiv1.GatewayStatusAddress, a gwapiv1.GatewayStatusAddress) bool {
	return slices.ContainsFunc(as, func(o gwapiv1.GatewayStatusAddress) bool { return *o.Type == *a.Type && o.Value == a.Value })
}

func notAssigned(addrs []gwapiv1.GatewayStatusAddress, msg string) status.BoundAddresses {
	return status.BoundAddresses{Addresses: addrs, Reason: gwapiv1.GatewayReasonAddressNotAssigned, Message: msg}
}

// serviceAddresses returns the addresses of gw's generated Service: its
// load-balancer ingress (IP or hostname), or its cluster and external IPs
// for other Service types; none while the Service does not exist. where
// names the Service for messages.
func (m *Manager) serviceAddresses(ctx context.Context, gw *gwapiv1.Gateway) (addrs []gwapiv1.GatewayStatusAddress, where string, err error) {
	ipType, hostType := gwapiv1.IPAddressType, gwapiv1.HostnameAddressType
	r := m.opts.Reader
	if r == nil {
		r = m.client
	}
	where = "Service " + gw.Namespace + "/" + ResourceName(gw.Name)
	var svc corev1.Service
	if err := r.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: ResourceName(gw.Name)}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, where, nil
		}
		return nil, where, fmt.Errorf("%s: %w", where, err)
	}
	if owner := metav1.GetControllerOf(&svc); owner == nil || owner.UID != gw.UID {
		return nil, where, nil
	}
	var out []gwapiv1.GatewayStatusAddress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			switch {
			case in.IP != "":
				out = append(out, gwapiv1.GatewayStatusAddress{Type: &ipType, Value: in.IP})
			case in.Hostname != "":
				out = append(out, gwapiv1.GatewayStatusAddress{Type: &hostType, Value: in.Hostname})
			}
		}
		return out, where, nil
	}
	for _, ip := range append(slices.Clone(svc.Spec.ClusterIPs), svc.Spec.ExternalIPs...) {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, gwapiv1.GatewayStatusAddress{Type: &ipType, Value: ip})
		}
	}
	return out, where, nil
}
