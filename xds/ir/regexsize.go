package ir

import (
	"unicode"
	"unicode/utf8"
)

// This file counts instructions the way RE2 compiles character classes in
// UTF-8 mode: one byte-range instruction per ASCII range; each non-ASCII
// range split into UTF-8 byte sequences whose leading bytes each take an
// instruction and whose continuation bytes are shared when the same byte
// range leads to the same next instruction (RE2's rune suffix cache); an
// alternation instruction joins every two alternatives; and the range
// 80-10FFFF (what "." and negated classes hold) costs RE2's fixed six
// instructions.

const maxRune = unicode.MaxRune

// literalSize is the cost of one literal rune.
func literalSize(r rune, fold bool) int {
	if r < utf8.RuneSelf {
		return 1 // one byte range (RE2 folds ASCII case with a flag)
	}
	if !fold {
		return utf8.RuneLen(r)
	}
	var ranges []rune
	for f := r; ; {
		ranges = append(ranges, f, f)
		if f = unicode.SimpleFold(f); f == r {
			break
		}
	}
	return classSize(normalize(ranges))
}

// normalize sorts single-rune pairs and merges adjacent ones.
func normalize(pairs []rune) []rune {
	for i := 2; i < len(pairs); i += 2 {
		for j := i; j >= 2 && pairs[j] < pairs[j-2]; j -= 2 {
			pairs[j], pairs[j-2] = pairs[j-2], pairs[j]
			pairs[j+1], pairs[j-1] = pairs[j-1], pairs[j+1]
		}
	}
	out := pairs[:0]
	for i := 0; i < len(pairs); i += 2 {
		if n := len(out); n > 0 && pairs[i] <= out[n-1]+1 {
			out[n-1] = max(out[n-1], pairs[i+1])
			continue
		}
		out = append(out, pairs[i], pairs[i+1])
	}
	return out
}

// byteRange is one instruction's byte range.
type byteRange struct{ lo, hi byte }

// suffixKey identifies a shared continuation-byte instruction.
type suffixKey struct {
	r    byteRange
	next int
}

// classSize is the cost of a class given as sorted [lo, hi] rune pairs.
func classSize(ranges []rune) int {
	insts, alts := 0, 0
	cache := map[suffixKey]int{}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < utf8.RuneSelf {
			insts++
			alts++
			if hi < utf8.RuneSelf {
				continue
			}
			lo = utf8.RuneSelf
		}
		if lo == utf8.RuneSelf && hi == maxRune {
			insts += 6
			alts += 3
			continue
		}
		for _, seq := range utf8Sequences(lo, hi) {
			next := 0 // the instruction after the class
			for k := len(seq) - 1; k >= 1; k-- {
				key := suffixKey{r: seq[k], next: next}
				id, ok := cache[key]
				if !ok {
					id = len(cache) + 1
					cache[key] = id
					insts++
				}
				next = id
			}
			insts++ // the leading byte
			alts++
		}
	}
	if alts > 1 {
		insts += alts - 1
	}
	return insts
}

// utf8Sequences splits [lo, hi] (lo >= 0x80) into ranges of code points
// whose UTF-8 encodings are the same length and differ only in a suffix of
// full continuation ranges, each given as its byte ranges.
func utf8Sequences(lo, hi rune) [][]byteRange {
	var out [][]byteRange
	var split func(lo, hi rune)
	split = func(lo, hi rune) {
		for _, b := range []rune{0x7ff, 0xffff} {
			if lo <= b && hi > b {
				split(lo, b)
				split(b+1, hi)
				return
			}
		}
		n := utf8.RuneLen(lo)
		if n < 0 {
			n = utf8.RuneLen(lo - 0x800) // a surrogate encodes in three bytes
		}
		for i := 1; i < n; i++ {
			m := rune(1)<<(6*i) - 1
			if lo&^m != hi&^m {
				if lo&m != 0 {
					split(lo, lo|m)
					split((lo|m)+1, hi)
					return
				}
				if hi&m != m {
					split(lo, (hi&^m)-1)
					split(hi&^m, hi)
					return
				}
			}
		}
		a, b := encode(lo, n), encode(hi, n)
		seq := make([]byteRange, n)
		for k := range seq {
			seq[k] = byteRange{lo: a[k], hi: b[k]}
		}
		out = append(out, seq)
	}
	split(lo, hi)
	return out
}

// encode writes r in n UTF-8 bytes, surrogates included (RE2 compiles the
// ranges it is given; Go's classes may hold surrogates).
func encode(r rune, n int) []byte {
	switch n {
	case 2:
		return []byte{0xc0 | byte(r>>6), 0x80 | byte(r)&0x3f}
	case 3:
		return []byte{0xe0 | byte(r>>12), 0x80 | byte(r>>6)&0x3f, 0x80 | byte(r)&0x3f}
	default:
		return []byte{0xf0 | byte(r>>18), 0x80 | byte(r>>12)&0x3f, 0x80 | byte(r>>6)&0x3f, 0x80 | byte(r)&0x3f}
	}
}
