package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Defaults of TokenReviewer.
const (
	DefaultAudience = "gantry"
	// DefaultReviewTTL is how long an accepted token is trusted without a
	// new review: short, so a deleted pod or ServiceAccount loses access
	// within it.
	DefaultReviewTTL = time.Minute
	// maxReviews bounds the cache; when full it is cleared.
	maxReviews = 10000
	// DefaultReviewsPerSecond and DefaultReviewBurst bound the TokenReview
	// calls (uncached tokens), so a flood of made-up tokens cannot load the
	// API server.
	DefaultReviewsPerSecond = 50
	DefaultReviewBurst      = 100
)

// TokenReviewer checks ServiceAccount tokens with the TokenReview API,
// asking for Gantry's audience, and caches accepted tokens for TTL. Only
// accepted reviews are cached (by the token's SHA-256, never the token).
// Safe for concurrent use.
type TokenReviewer struct {
	client    authnclient.TokenReviewInterface
	audiences []string
	ttl       time.Duration
	now       func() time.Time
	limit     flowcontrol.RateLimiter

	mu    sync.Mutex
	cache map[[sha256.Size]byte]review
}

type review struct {
	id      ca.Identity
	expires time.Time
}

// TokenReviewOptions configure a TokenReviewer.
type TokenReviewOptions struct {
	// Audiences the token must be issued for (default DefaultAudience); a
	// token for the API server's own audience is refused.
	Audiences []string
	// TTL of an accepted review (default DefaultReviewTTL).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ReviewsPerSecond and ReviewBurst bound the TokenReview calls
	// (defaults DefaultReviewsPerSecond, DefaultReviewBurst); beyond them a
	// token is refused with Unavailable, to be retried.
	ReviewsPerSecond float32
	ReviewBurst      int
}

// NewTokenReviewer returns a TokenReviewer that calls client.
func NewTokenReviewer(client authnclient.TokenReviewInterface, o TokenReviewOptions) *TokenReviewer {
	if len(o.Audiences) == 0 {
		o.Audiences = []string{DefaultAudience}
	}
	if o.TTL <= 0 {
		o.TTL = DefaultReviewTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReviewsPerSecond <= 0 {
		o.ReviewsPerSecond = DefaultReviewsPerSecond
	}
	if o.ReviewBurst <= 0 {
		o.ReviewBurst = DefaultReviewBurst
	}
	return &TokenReviewer{client: client, audiences: slices.Clone(o.Audiences), ttl: o.TTL, now: o.Now,
		limit: flowcontrol.NewTokenBucketRateLimiter(o.ReviewsPerSecond, o.ReviewBurst), cache: map[[sha256.Size]byte]review{}}
}

// Review returns the ServiceAccount identity of token, or why it is
// refused (not authenticated, another audience, not a ServiceAccount).
func (r *TokenReviewer) Review(ctx context.Context, token string) (ca.Identity, error) {
	if token == "" {
		return ca.Identity{}, errors.New("empty token")
	}
	sum := sha256.Sum256([]byte(token))
	now := r.now()
	r.mu.Lock()
	if c, ok := r.cache[sum]; ok && now.Before(c.expires) {
		r.mu.Unlock()
		return c.id, nil
	}
	r.mu.Unlock()
	if !r.limit.TryAccept() {
		return ca.Identity{}, status.Error(codes.Unavailable, "too many token reviews at once: retry shortly")
	}
	tr, err := r.client.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: r.audiences}}, metav1.CreateOptions{})
	if err != nil {
		return ca.Identity{}, fmt.Errorf("token review: %w", err)
	}
	id, err := r.accept(tr.Status)
	if err != nil {
		return ca.Identity{}, err
	}
	r.mu.Lock()
	if len(r.cache) >= maxReviews {
		clear(r.cache)
	}
	r.cache[sum] = review{id: id, expires: now.Add(r.ttl)}
	r.mu.Unlock()
	return id, nil
}

// accept checks a review's result.
func (r *TokenReviewer) accept(st authnv1.TokenReviewStatus) (ca.Identity, error) {
	if !st.Authenticated {
		msg := st.Error
		if msg == "" {
			msg = "not authenticated"
		}
		return ca.Identity{}, fmt.Errorf("token refused: %s (a ServiceAccount token with audience %v is required)", msg, r.audiences)
	}
	if !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(r.audiences, a) }) {
		return ca.Identity{}, fmt.Errorf("token refused: audiences %v, want one of %v", st.Audiences, r.audiences)
	}
	return FromServiceAccountUser(st.User.Username)
}
