package certmanager

import (
	"context"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Backoff between two watches of one request (a watch the API server closed
// or refused).
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// outcome is what a request's conditions say.
type outcome int

const (
	pending outcome = iota
	issued
	refused
)

// wait follows cr until it is issued or refused or ctx ends: it reads the
// request, then watches it from that version; when the watch ends early it
// reads again and re-watches after a backoff (reset by any progress).
func (s *Signer) wait(ctx context.Context, cr *cmapi.CertificateRequest) (*cmapi.CertificateRequest, error) {
	key := client.ObjectKeyFromObject(cr)
	last := cr
	backoff := minBackoff
	var watchErr error
	for {
		cur := &cmapi.CertificateRequest{}
		if err := s.opts.Client.Get(ctx, key, cur); err != nil {
			if ctx.Err() != nil {
				return nil, s.timeout(ctx, last, watchErr)
			}
			return nil, s.errorf(cr, "read: %w", err)
		}
		last = cur
		if done, err := s.judge(cur); done || err != nil {
			return cur, err
		}
		var next *cmapi.CertificateRequest
		next, watchErr = s.watch(ctx, cur)
		if next != nil {
			last, backoff = next, minBackoff
			if done, err := s.judge(next); done || err != nil {
				return next, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, s.timeout(ctx, last, watchErr)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watch watches one request from cur's version until it is issued or
// refused, the watch ends, or ctx ends. It returns the last version seen
// (nil if none) and an error when the watch could not start or failed.
func (s *Signer) watch(ctx context.Context, cur *cmapi.CertificateRequest) (*cmapi.CertificateRequest, error) {
	w, err := s.opts.Client.Watch(ctx, &cmapi.CertificateRequestList{},
		client.InNamespace(cur.Namespace),
		client.MatchingFields{"metadata.name": cur.Name},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: cur.ResourceVersion, AllowWatchBookmarks: true}},
	)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	defer w.Stop()
	var last *cmapi.CertificateRequest
	for {
		select {
		case <-ctx.Done():
			return last, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last, nil
			}
			switch ev.Type {
			case watch.Error:
				return last, fmt.Errorf("watch: %v", ev.Object)
			case watch.Deleted:
				return last, fmt.Errorf("deleted while waiting")
			case watch.Added, watch.Modified:
				if next, ok := ev.Object.(*cmapi.CertificateRequest); ok {
					last = next
					if s.outcome(next) != pending {
						return last, nil
					}
				}
			}
		}
	}
}

// judge reports whether cr is finished and, if it was refused, why.
func (s *Signer) judge(cr *cmapi.CertificateRequest) (bool, error) {
	switch s.outcome(cr) {
	case issued:
		return true, nil
	case refused:
		return true, s.errorf(cr, "%s", refusal(cr))
	}
	return false, nil
}

func (s *Signer) outcome(cr *cmapi.CertificateRequest) outcome {
	if c := condition(cr, cmapi.CertificateRequestConditionDenied); c != nil && c.Status == cmmeta.ConditionTrue {
		return refused
	}
	if c := condition(cr, cmapi.CertificateRequestConditionInvalidRequest); c != nil && c.Status == cmmeta.ConditionTrue {
		return refused
	}
	ready := condition(cr, cmapi.CertificateRequestConditionReady)
	switch {
	case ready == nil:
		return pending
	case ready.Status == cmmeta.ConditionTrue && len(cr.Status.Certificate) > 0:
		return issued
	case ready.Status == cmmeta.ConditionFalse && (ready.Reason == cmapi.CertificateRequestReasonFailed || ready.Reason == cmapi.CertificateRequestReasonDenied):
		return refused
	}
	return pending
}

// refusal describes why a refused request will never be signed.
func refusal(cr *cmapi.CertificateRequest) string {
	for _, t := range []cmapi.CertificateRequestConditionType{cmapi.CertificateRequestConditionDenied, cmapi.CertificateRequestConditionInvalidRequest} {
		if c := condition(cr, t); c != nil && c.Status == cmmeta.ConditionTrue {
			return fmt.Sprintf("%s: %s: %s", verb(t), c.Reason, c.Message)
		}
	}
	c := condition(cr, cmapi.CertificateRequestConditionReady)
	return fmt.Sprintf("failed: %s: %s", c.Reason, c.Message)
}

func verb(t cmapi.CertificateRequestConditionType) string {
	if t == cmapi.CertificateRequestConditionDenied {
		return "denied"
	}
	return "invalid request"
}

// timeout is the error for a request still pending when ctx ended; it
// carries the last thing cert-manager said about it.
func (s *Signer) timeout(ctx context.Context, cr *cmapi.CertificateRequest, watchErr error) error {
	state := "approved, no Ready condition yet (is cert-manager's controller for this issuer running?)"
	if c := condition(cr, cmapi.CertificateRequestConditionReady); c != nil {
		state = fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
	} else if condition(cr, cmapi.CertificateRequestConditionApproved) == nil {
		state = "not approved (is an approver running for this issuer?)"
	}
	if watchErr != nil {
		state += fmt.Sprintf(" (%v)", watchErr)
	}
	return s.errorf(cr, "not signed before the deadline, last state: %s: %w", state, context.Cause(ctx))
}

func condition(cr *cmapi.CertificateRequest, t cmapi.CertificateRequestConditionType) *cmapi.CertificateRequestCondition {
	for i := range cr.Status.Conditions {
		if cr.Status.Conditions[i].Type == t {
			return &cr.Status.Conditions[i]
		}
	}
	return nil
}
