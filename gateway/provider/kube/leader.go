package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderOptions configure leader election over a coordination.k8s.io Lease.
type LeaderOptions struct {
	Namespace string // Lease namespace; required
	Name      string // Lease name; default "gantry-controller"
	// Identity names this replica; default the host name.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15s, 10s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnStartedLeading runs when this replica becomes the leader; its
	// context ends when leadership is lost.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs when leadership is lost or given up.
	OnStoppedLeading func()
	// HoldLeaseOnStop keeps the Lease when ctx ends, as a crashed replica
	// would (tests measure failover with it); by default it is released.
	HoldLeaseOnStop bool
	Logger          *slog.Logger
}

// RunLeaderElection campaigns for the Lease until ctx ends, calling the
// callbacks on every gain and loss; after a loss it campaigns again. The
// Lease is released when ctx ends, so a stopping leader hands over at once.
func RunLeaderElection(ctx context.Context, cfg *rest.Config, opts LeaderOptions) error {
	if opts.Namespace == "" {
		return fmt.Errorf("leader election: namespace is required")
	}
	if opts.Name == "" {
		opts.Name = "gantry-controller"
	}
	if opts.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("leader election: identity: %w", err)
		}
		opts.Identity = h
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return fmt.Errorf("leader election: client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.Namespace, opts.Name,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: opts.Identity})
	if err != nil {
		return fmt.Errorf("leader election: lock: %w", err)
	}
	lec := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: !opts.HoldLeaseOnStop,
		Name:            opts.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leader election: leading", "identity", opts.Identity, "lease", opts.Namespace+"/"+opts.Name)
				if opts.OnStartedLeading != nil {
					opts.OnStartedLeading(ctx)
				}
			},
			OnStoppedLeading: func() {
				log.Info("leader election: not leading", "identity", opts.Identity)
				if opts.OnStoppedLeading != nil {
					opts.OnStoppedLeading()
				}
			},
		},
	}
	le, err := leaderelection.NewLeaderElector(lec)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	return nil
}
