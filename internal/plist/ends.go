package plist

// Same reports whether a and b are the same version of a list: the same
// chunk index (every Splice makes a new one) and length. Lists that hold
// equal items but were made apart are not the same.
func Same[T any](a, b List[T]) bool {
	return len(a.chunks) == len(b.chunks) && a.Len() == b.Len() && (len(a.chunks) == 0 || &a.chunks[0] == &b.chunks[0])
}

// KeptEnds returns how many items of b, from the start and from the end
// (never overlapping), are those of a (==) at the same position. Runs the
// two lists share (the same chunk memory) are skipped without a look, so a
// version made by a Splice of the other costs its chunks plus the items of
// the chunks the edit reached.
func KeptEnds[T comparable](a, b List[T]) (head, tail int) {
	head = keptHead(a.chunks, b.chunks)
	return head, keptTail(a.chunks, b.chunks, min(a.Len(), b.Len())-head)
}

// keptHead counts the items at the start of the chunks ac and bc that are
// the same.
func keptHead[T comparable](ac, bc [][]T) int {
	head := 0
	var x, y []T
	for {
		if len(x) == 0 && len(ac) > 0 {
			x, ac = ac[0], ac[1:]
		}
		if len(y) == 0 && len(bc) > 0 {
			y, bc = bc[0], bc[1:]
		}
		if len(x) == 0 || len(y) == 0 {
			return head
		}
		n := min(len(x), len(y))
		if &x[0] != &y[0] {
			for i := range n {
				if x[i] != y[i] {
					return head + i
				}
			}
		}
		head, x, y = head+n, x[n:], y[n:]
	}
}

// keptTail counts the items at the end of the chunks ac and bc that are the
// same, at most limit.
func keptTail[T comparable](ac, bc [][]T, limit int) int {
	tail := 0
	var x, y []T
	for tail < limit {
		if len(x) == 0 && len(ac) > 0 {
			x, ac = ac[len(ac)-1], ac[:len(ac)-1]
		}
		if len(y) == 0 && len(bc) > 0 {
			y, bc = bc[len(bc)-1], bc[:len(bc)-1]
		}
		if len(x) == 0 || len(y) == 0 {
			break
		}
		n := min(len(x), len(y), limit-tail)
		if &x[len(x)-1] != &y[len(y)-1] {
			for i := range n {
				if x[len(x)-1-i] != y[len(y)-1-i] {
					return tail + i
				}
			}
		}
		tail, x, y = tail+n, x[:len(x)-n], y[:len(y)-n]
	}
	return tail
}
