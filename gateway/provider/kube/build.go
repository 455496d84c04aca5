package kube

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// builder reads every watched kind from reader into a resource.Set.
type builder struct {
	reader client.Reader
	scheme *runtime.Scheme
	opts   Options
	// kinds lists the kinds whose API exists; others are not read.
	kinds []string
	// namespaces, when set, are listed one by one (direct API reads);
	// a scoped cache needs none.
	namespaces []string
	// pods remembers the Pods' digests of the previous build (podVersion),
	// so that only Pods with a new resourceVersion are hashed again.
	pods podDigests
}

// load lists one kind into set. Reads from the cache share the cached
// objects (no deep copy): Sets are never mutated.
func (b *builder) load(ctx context.Context, k resource.KindInfo, set *resource.Set) error {
	var objs []any
	nss := []string{""}
	if k.Namespaced && len(b.namespaces) > 0 {
		nss = b.namespaces
	}
	for _, ns := range nss {
		l, err := newList(b.scheme, k)
		if err != nil {
			return err
		}
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := b.reader.List(ctx, l, opts...); err != nil {
			return err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return fmt.Errorf("%s list: %w", k.Kind, err)
		}
		for _, it := range items {
			objs = append(objs, it)
		}
	}
	k.Put(set, objs)
	return nil
}

// build reads every present kind and returns the relevant Set and its
// fingerprint.
func (b *builder) build(ctx context.Context) (*resource.Set, fingerprint, error) {
	set := &resource.Set{}
	for _, k := range watchedKinds() {
		if !slices.Contains(b.kinds, k.Kind) {
			continue
		}
		if err := b.load(ctx, k, set); err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", k.Kind, err)
		}
	}
	set = filterRelevant(set, b.opts)
	fp, pods := fingerprintOf(set, b.pods)
	b.pods = pods
	return set, fp, nil
}

// fingerprintOf maps every object of set to its resourceVersion, and every
// Pod to the digest of what the mesh reads of it (podVersion), reusing the
// digests of prev for Pods of an unchanged resourceVersion. It returns the
// digests of set's Pods.
func fingerprintOf(set *resource.Set, prev podDigests) (fingerprint, podDigests) {
	fp := fingerprint{}
	pods := make(podDigests, set.Pods.Len())
	set.Each(func(k resource.Key, o metav1.Object) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			fp[k] = o.GetResourceVersion()
			return
		}
		d, ok := prev[k]
		if !ok || d.resourceVersion != p.ResourceVersion {
			d = podDigest{resourceVersion: p.ResourceVersion, digest: podVersion(p)}
		}
		pods[k], fp[k] = d, d.digest
	})
	return fp, pods
}
