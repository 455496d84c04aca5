package file

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCommonEnds checks the page-at-a-time comparisons against a byte
// loop, with the difference on either side of a page's end.
func TestCommonEnds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 4095, 4096, 4097, 8192, 10000} {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte('a' + rng.IntN(3))
		}
		for _, at := range []int{0, 1, n / 2, 4095, 4096, 4097, n - 1} {
			if at < 0 || at >= n {
				continue
			}
			b := bytes.Clone(a)
			b[at] = 'z'
			if got := commonPrefix(a, b); got != at {
				t.Errorf("commonPrefix, %d bytes differing at %d: %d", n, at, got)
			}
			if got := commonSuffix(a, b); got != n-1-at {
				t.Errorf("commonSuffix, %d bytes differing at %d: %d", n, at, n-1-at)
			}
			longer := append(bytes.Clone(a[:at]), append([]byte("xyz"), a[at:]...)...)
			if got := commonPrefix(a, longer); got > at || !bytes.Equal(a[:got], longer[:got]) || got < n && got < len(longer) && a[got] == longer[got] {
				t.Errorf("commonPrefix, %d bytes and 3 inserted at %d: %d", n, at, got)
			}
			if got := commonSuffix(a, longer); got < n-at || !bytes.Equal(a[n-got:], longer[len(longer)-got:]) {
				t.Errorf("commonSuffix, %d bytes and 3 inserted at %d: %d", n, at, got)
			}
		}
		if got := commonPrefix(a, a); got != n {
			t.Errorf("commonPrefix of %d equal bytes: %d", n, got)
		}
		if got := commonSuffix(a, a); got != n {
			t.Errorf("commonSuffix of %d equal bytes: %d", n, got)
		}
	}
}
