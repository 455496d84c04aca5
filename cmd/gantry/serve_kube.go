package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// newKubeProvider wires the Kubernetes provider: informers feed the
// pipeline on every replica; the leader (or the only replica without
// --leader-elect) writes status and manages each Gateway's Envoy fleet.
func newKubeProvider(_ context.Context, o *serveOptions, log *slog.Logger) (providerWiring, error) {
	// client-go and controller-runtime log through Gantry's logger.
	klog.SetSlogLogger(log.With("component", "client-go"))
	ctrllog.SetLogger(logr.FromSlogHandler(log.With("component", "controller-runtime").Handler()))
	cfg, err := o.kube.clientConfig().ClientConfig()
	if err != nil {
		return providerWiring{}, fmt.Errorf("kube provider: no cluster configuration (in-cluster, $KUBECONFIG or ~/.kube/config): %w", err)
	}
	cfg.UserAgent = "gantry"
	// client-go's default (5/s) would throttle status and infrastructure
	// writes; the status writer has its own token bucket.
	cfg.QPS, cfg.Burst = 100, 200
	k, err := newKubeWiring(cfg, o, log)
	if err != nil {
		return providerWiring{}, err
	}
	return providerWiring{provider: k, sink: k.sink}, nil
}

// kubeWiring adapts kube.Provider to the serve pipeline and runs the
// leader-only work (status and infrastructure) off the pipeline's path.
type kubeWiring struct {
	cfg    *rest.Config
	opts   *serveOptions
	log    *slog.Logger
	prov   *kube.Provider
	client client.Client

	// identity names this replica in leader election; default $POD_NAME,
	// else host name and pid.
	identity string
	leading  atomic.Bool
	// regained is set when leadership is (re)gained: the worker then
	// forgets what it wrote before and writes everything once.
	regained atomic.Bool
	kick     chan struct{}

	mu     sync.Mutex
	set    *resource.Set
	result *translate.Result
	writer *kube.StatusWriter
	infra  *infrakube.Manager
}

func newKubeWiring(cfg *rest.Config, o *serveOptions, log *slog.Logger) (*kubeWiring, error) {
	scheme, err := kube.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kube provider: client: %w", err)
	}
	prov := kube.New(cfg, kube.Options{ControllerName: o.controllerName, WatchNamespaces: o.watchNamespaces, Logger: log})
	o.identity.restConfig = cfg
	return &kubeWiring{cfg: cfg, opts: o, log: log, prov: prov, client: c, kick: make(chan struct{}, 1)}, nil
}

// Run forwards the provider's events to the pipeline and runs leader
// election and the status/infrastructure worker until ctx ends.
func (k *kubeWiring) Run(ctx context.Context, out chan<- providerEvent) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	in := make(chan kube.Event)
	go func() { errc <- k.prov.Run(ctx, in) }()
	go k.worker(ctx)
	if k.opts.leaderElect {
		go func() { errc <- k.elect(ctx) }()
	} else {
		k.leading.Store(true)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return err
			}
		case ev := <-in:
			k.mu.Lock()
			k.set = ev.Set
			k.mu.Unlock()
			pe := providerEvent{Set: ev.Set, EndpointsOnly: ev.EndpointsOnly(), Initial: ev.Initial, ChangedAt: time.Now()}
			select {
			case out <- pe:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// sink is the status sink: it records the result and wakes the worker, so
// that rate-limited status writes never hold up xDS.
func (k *kubeWiring) sink(_ context.Context, res *translate.Result) {
	k.mu.Lock()
	k.result = res
	k.mu.Unlock()
	k.poke()
}

func (k *kubeWiring) poke() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// worker applies infrastructure and writes status for the latest result,
// while this replica leads.
func (k *kubeWiring) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.kick:
		}
		if !k.leading.Load() {
			continue
		}
		k.mu.Lock()
		set, res := k.set, k.result
		k.mu.Unlock()
		if set == nil || res == nil {
			continue
		}
		writer, infra := k.leaderTools()
		if k.regained.Swap(false) {
			writer.Forget()
			infra.Forget()
		}
		// Without a status report there is no verdict on the classes:
		// leave the fleets alone rather than remove them.
		failed := false
		if res.Status != nil {
			if err := infra.ReconcileAccepted(ctx, set, infrakube.Verdict{Classes: acceptedClasses(res), Listeners: acceptedListeners(res)}); err != nil && ctx.Err() == nil {
				k.log.Error("infrastructure", "error", err)
				failed = true
			}
		}
		if err := writer.Write(ctx, res.Status); err != nil && ctx.Err() == nil {
			k.log.Error("status", "error", err)
			failed = true
		}
		if failed {
			// Try again later even if nothing changes.
			time.AfterFunc(retryAfterFailure, k.poke)
		}
	}
}

// retryAfterFailure is how long the worker waits before retrying failed
// status or infrastructure writes.
const retryAfterFailure = 5 * time.Second

// leaderTools builds the status writer and infrastructure manager on first
// use by the worker, which runs only after the provider's first event, so
// its cache exists (they read through it).
func (k *kubeWiring) leaderTools() (*kube.StatusWriter, *infrakube.Manager) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.writer == nil {
		reader := k.prov.Reader()
		var params *infrakube.Params
		if k.opts.envoyImage != "" {
			p := infrakube.DefaultParams()
			p.EnvoyImage = k.opts.envoyImage
			params = &p
		}
		k.infra = infrakube.New(k.client, infrakube.Options{
			ControllerName: k.opts.controllerName, XDSServiceAddress: k.opts.xdsServiceAddress, Params: params,
			Namespaces: k.opts.watchNamespaces, Reader: reader, Logger: k.log, Identity: k.opts.identity.fleetIdentity(),
		})
		k.writer = kube.NewStatusWriter(k.client, kube.StatusOptions{
			ControllerName: k.opts.controllerName, Reader: reader, Addresses: k.infra, Logger: k.log,
			Namespaces: k.opts.watchNamespaces,
		})
	}
	return k.writer, k.infra
}

// elect campaigns for the Lease; on every gain the worker forgets what it
// wrote before and writes everything again.
func (k *kubeWiring) elect(ctx context.Context) error {
	ns := k.opts.leaderElectionNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			ns = strings.TrimSpace(string(data))
		}
	}
	if ns == "" {
		return errors.New("--leader-elect needs --leader-election-namespace (or POD_NAMESPACE)")
	}
	id := k.identity
	if id == "" {
		id = os.Getenv("POD_NAME")
	}
	if id == "" {
		h, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	return kube.RunLeaderElection(ctx, k.cfg, kube.LeaderOptions{
		Namespace: ns, Identity: id, Logger: k.log,
		OnStartedLeading: func(context.Context) {
			k.regained.Store(true)
			k.leading.Store(true)
			k.poke()
		},
		OnStoppedLeading: func() { k.leading.Store(false) },
	})
}

// acceptedClasses are the GatewayClasses translation accepted: only their
// Gateways get an Envoy fleet.
func acceptedClasses(res *translate.Result) map[string]bool {
	out := map[string]bool{}
	if res.Status == nil {
		return out
	}
	for _, c := range res.Status.GatewayClasses {
		if cond := meta.FindStatusCondition(c.Status.Conditions, "Accepted"); cond != nil && cond.Status == metav1.ConditionTrue {
			out[c.Name] = true
		}
	}
	return out
}

// acceptedListeners are the listeners of Gateways and ListenerSets that
// translation accepted (Accepted=True and not Conflicted): only they get
// Service and container ports.
func acceptedListeners(res *translate.Result) map[infrakube.ListenerKey]bool {
	out := map[infrakube.ListenerKey]bool{}
	ok := func(conds []metav1.Condition) bool {
		return meta.IsStatusConditionTrue(conds, "Accepted") && !meta.IsStatusConditionTrue(conds, "Conflicted")
	}
	for _, g := range res.Status.Gateways {
		for _, l := range g.Status.Listeners {
			if ok(l.Conditions) {
				out[infrakube.ListenerKey{Kind: "Gateway", Namespace: g.Namespace, Name: g.Name, Listener: string(l.Name)}] = true
			}
		}
	}
	for _, s := range res.Status.ListenerSets {
		for _, l := range s.Status.Listeners {
			if ok(l.Conditions) {
				out[infrakube.ListenerKey{Kind: "ListenerSet", Namespace: s.Namespace, Name: s.Name, Listener: string(l.Name)}] = true
			}
		}
	}
	return out
}
