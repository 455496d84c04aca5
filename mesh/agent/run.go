package agent

import (
	"context"
	"errors"
	"time"
)

// Retry backoff after a failed renewal.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Run fetches a certificate, then renews it each time RenewFraction of its
// lifetime has passed, until ctx ends (nil is returned then). A refusal
// (*AuthError) ends Run with that error; other failures are retried with
// backoff, the files keeping the last certificate meanwhile. ready, when not
// nil, is called after each certificate is written.
func Run(ctx context.Context, o Options, ready func(Issued)) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	backoff := minBackoff
	var next time.Time // zero: fetch now
	for {
		if err := sleep(ctx, time.Until(next)); err != nil {
			return nil
		}
		issued, err := fetch(ctx, o)
		var authErr *AuthError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &authErr):
			return err
		case err != nil:
			o.Logger.Warn("certificate request failed; retrying", "error", err, "in", backoff)
			next = time.Now().Add(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		next = issued.renewAt(o.RenewFraction)
		o.Logger.Info("certificate written", "identity", issued.SPIFFEID, "dir", o.Dir,
			"notAfter", issued.NotAfter.UTC().Format(time.RFC3339), "renewAt", next.UTC().Format(time.RFC3339))
		if ready != nil {
			ready(issued)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
