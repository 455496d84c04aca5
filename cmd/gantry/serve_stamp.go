package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// conditionStamper is a provider that stamps LastTransitionTime on the
// conditions of each translation's status before the pipeline publishes it
// (file: nothing else does; kube: the status writer stamps against the API
// server instead).
type conditionStamper interface {
	stampConditions(r *status.Report)
}

// transitionClock sets each condition's LastTransitionTime the way the kube
// status writer does: the time a condition's status last changed, kept while
// it stays the same. Translation carries no times; this is the file
// provider's writer.
//
// The report's lists are shared with the reports published before and
// are never written: stamp replaces each list it stamps with a stamped
// copy. Routes are stamped at the cost of the change (routeStamps): the
// same routes' list as last time gets the same stamped copy, a new one
// costs one pass of pointer comparisons and the stamping of the routes
// whose Parents slice is new.
type transitionClock struct {
	now func() time.Time

	mu     sync.Mutex
	prev   map[string]metav1.Condition // condKey -> last stamped condition (all but routes)
	routes *routeStamps
}

func newTransitionClock(now func() time.Time) *transitionClock {
	if now == nil {
		now = time.Now
	}
	return &transitionClock{now: now, prev: map[string]metav1.Condition{}, routes: newRouteStamps()}
}

// stamp sets LastTransitionTime on every condition of r: kept from the
// previous report when the same condition of the same object had the same
// status, now otherwise. Conditions that disappeared are forgotten. r's
// lists are replaced by stamped copies, never written.
func (c *transitionClock) stamp(r *status.Report) {
	if r == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := metav1.NewTime(c.now().Truncate(time.Second))
	next := make(map[string]metav1.Condition, len(c.prev))
	eachConditions(r, func(owner string, conds *[]metav1.Condition) {
		stampList(conds, owner, now, func(k string) (metav1.Condition, bool) {
			p, ok := c.prev[k]
			return p, ok
		}, func(k string, cond metav1.Condition) { next[k] = cond })
	})
	c.prev = next
	r.Routes = c.routes.stamp(r.Routes, now)
}

// stampList replaces *conds with a stamped copy: each condition keeps the
// time of the previous condition of its key (owner and type) when the
// status is the same, and gets now otherwise; keep records each one.
func stampList(conds *[]metav1.Condition, owner string, now metav1.Time,
	prev func(string) (metav1.Condition, bool), keep func(string, metav1.Condition)) {
	*conds = slices.Clone(*conds)
	for i := range *conds {
		cond := &(*conds)[i]
		k := owner + "\x00" + cond.Type
		cond.LastTransitionTime = now
		if p, ok := prev(k); ok && p.Status == cond.Status {
			cond.LastTransitionTime = p.LastTransitionTime
		}
		keep(k, *cond)
	}
}

// eachConditions calls fn with every condition list of r but the routes'
// (routeStamps stamps those) and a key naming its owner (object, listener
// or policy ancestor).
// Each list it reaches into is replaced by a copy first (fn may replace
// the condition lists), so r's lists are not written.
func eachConditions(r *status.Report, fn func(owner string, conds *[]metav1.Condition)) {
	r.GatewayClasses = slices.Clone(r.GatewayClasses)
	r.Gateways = slices.Clone(r.Gateways)
	r.ListenerSets = slices.Clone(r.ListenerSets)
	r.BackendTLSPolicies = slices.Clone(r.BackendTLSPolicies)
	for i := range r.GatewayClasses {
		gc := &r.GatewayClasses[i]
		fn("GatewayClass/"+gc.Name, &gc.Status.Conditions)
	}
	for i := range r.Gateways {
		g := &r.Gateways[i]
		owner := "Gateway/" + g.Namespace + "/" + g.Name
		fn(owner, &g.Status.Conditions)
		g.Status.Listeners = slices.Clone(g.Status.Listeners)
		for j := range g.Status.Listeners {
			fn(owner+"/listener/"+string(g.Status.Listeners[j].Name), &g.Status.Listeners[j].Conditions)
		}
	}
	for i := range r.ListenerSets {
		ls := &r.ListenerSets[i]
		owner := "ListenerSet/" + ls.Namespace + "/" + ls.Name
		fn(owner, &ls.Status.Conditions)
		ls.Status.Listeners = slices.Clone(ls.Status.Listeners)
		for j := range ls.Status.Listeners {
			fn(owner+"/listener/"+string(ls.Status.Listeners[j].Name), &ls.Status.Listeners[j].Conditions)
		}
	}
	for i := range r.BackendTLSPolicies {
		pol := &r.BackendTLSPolicies[i]
		pol.Status.Ancestors = slices.Clone(pol.Status.Ancestors)
		for j := range pol.Status.Ancestors {
			a := &pol.Status.Ancestors[j]
			fn(fmt.Sprintf("%s/%s/%s/ancestor/%s/%s", pol.Kind, pol.Namespace, pol.Name, a.ControllerName, parentKey(a.AncestorRef)), &a.Conditions)
		}
	}
}

// parentKey names a parent reference with every field that tells two
// parents apart.
func parentKey(p gwapiv1.ParentReference) string {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	port := ""
	if p.Port != nil {
		port = fmt.Sprint(*p.Port)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", deref((*string)(p.Group)), deref((*string)(p.Kind)),
		deref((*string)(p.Namespace)), p.Name, deref((*string)(p.SectionName)), port)
}
