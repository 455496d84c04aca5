// Package benchcpu measures the CPU time of benchmarks: the process's user
// and system time, every thread (the garbage collector included), which
// moves much less with the load of a shared machine than wall time.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Time is the CPU time (user and system) the process has used so far, or 0
// when it cannot be read.
func Time() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Report starts counting the process's CPU time; the returned func reports
// it per op of b as cpu-ms/op.
func Report(b *testing.B) func() {
	start := Time()
	return func() { PerOp(b, Time()-start) }
}

// PerOp reports cpu, spent over b's ops, as cpu-ms/op.
func PerOp(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
