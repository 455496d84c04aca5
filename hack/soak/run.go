package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
)

func bench(ctx context.Context, c config, l *load) error {
	before, err := rssBytes(ctx, c.metricsURL)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := l.createRoutes(ctx, c.routes); err != nil {
		return fmt.Errorf("create routes: %w", err)
	}
	fmt.Fprintf(os.Stderr, "created %d HTTPRoutes in %v\n", c.routes, time.Since(start).Round(time.Millisecond))
	took, err := l.waitAccepted(ctx, c.routes, 10*time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "all %d Accepted %v after creation finished\n", c.routes, took.Round(time.Millisecond))
	time.Sleep(5 * time.Second) // let the controller settle
	after, err := rssBytes(ctx, c.metricsURL)
	if err != nil {
		return err
	}

	group, rc := "gateway/"+l.ns+"/"+gatewayName, l.ns+"/"+gatewayName+"/80"
	creds, err := xdsCreds(ctx, l.cfg, c, l.ns, gatewayName)
	if err != nil {
		return err
	}
	w, err := watchRoutes(ctx, c.xdsAddress, creds, group, rc)
	if err != nil {
		return err
	}
	defer w.conn.Close()
	if _, err := w.waitFor(ctx, routeName(0), time.Minute); err != nil {
		return fmt.Errorf("initial route configuration %s: %w", rc, err)
	}
	var lat []time.Duration
	for i := range c.samples {
		marker := fmt.Sprintf("/bench-%06d-%d", i, time.Now().UnixNano()%1e6)
		t0 := time.Now()
		if err := l.setPrefix(ctx, i%c.routes, marker); err != nil {
			return err
		}
		at, err := w.waitFor(ctx, marker, 30*time.Second)
		if err != nil {
			return err
		}
		lat = append(lat, at.Sub(t0))
	}
	final, err := rssBytes(ctx, c.metricsURL)
	if err != nil {
		return err
	}
	fmt.Printf("routes\t%d\n", c.routes)
	fmt.Printf("controller RSS before routes\t%s\n", mib(before))
	fmt.Printf("controller RSS with routes\t%s\n", mib(after))
	fmt.Printf("controller RSS after %d updates\t%s\n", c.samples, mib(final))
	fmt.Printf("update -> client (n=%d)\tp50 %v\tp99 %v\tmax %v\n", len(lat),
		percentile(lat, 50).Round(time.Millisecond), percentile(lat, 99).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond))
	fmt.Printf("host\t%s/%s, %d CPUs\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	return nil
}

func soak(ctx context.Context, c config, l *load) error {
	start := time.Now()
	first, err := rssBytes(ctx, c.metricsURL)
	if err != nil {
		return err
	}
	fmt.Printf("cycle\telapsed\tRSS (%d routes applied and deleted per cycle)\n", c.routes)
	fmt.Printf("0\t0s\t%s\n", mib(first))
	var last float64
	for cycle := 1; time.Since(start) < c.duration && ctx.Err() == nil; cycle++ {
		if err := l.createRoutes(ctx, c.routes); err != nil {
			return err
		}
		if _, err := l.waitAccepted(ctx, c.routes, 5*time.Minute); err != nil {
			return err
		}
		if err := l.deleteRoutes(ctx, c.routes); err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		if last, err = rssBytes(ctx, c.metricsURL); err != nil {
			return err
		}
		fmt.Printf("%d\t%v\t%s\n", cycle, time.Since(start).Round(time.Second), mib(last))
	}
	fmt.Printf("RSS start %s, end %s\n", mib(first), mib(last))
	return nil
}
