package translate

import (
	"strconv"
	"testing"

	"github.com/gantryproxy/gantry/xds/envoy"
)

var benchSizes = []int{100, 1000, 10000}

// BenchmarkTranslate translates n HTTPRoutes (two rules each) on one Gateway.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range benchSizes {
		set := generateRoutes(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := Translate(set, Options{}); len(r.Proxies) != 1 {
					b.Fatal("want one proxy")
				}
			}
		})
	}
}

// BenchmarkTranslateToXDS adds building (and validating) the Envoy xDS.
func BenchmarkTranslateToXDS(b *testing.B) {
	for _, n := range benchSizes {
		set := generateRoutes(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := Translate(set, Options{})
				if _, err := envoy.Build(r.Proxies[0], envoy.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
