// Package file is the standalone provider: it watches folders of Gateway API
// YAML with fsnotify and emits a new resource.Set, and what changed, after
// every edit. A file that breaks is reported and the last good state of its
// objects is kept; bad input never stops the provider.
package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// Options configure a Provider.
type Options struct {
	// Paths are folders (read recursively) or single files.
	Paths []string
	// Coalesce is how long the provider waits for a burst of file system
	// events to end before rescanning (default 20 ms). Bursts are bounded by
	// ten times this value.
	Coalesce time.Duration
	// Logger receives diagnostics as they appear; nil means slog.Default().
	Logger *slog.Logger
}

// Event is one new Set and what changed since the previous Event.
type Event struct {
	Set *resource.Set
	// Changed lists the kinds with an added, updated or deleted object since
	// the previous event, sorted. The first event has Initial set and lists
	// every kind present.
	Changed []string
	// ChangedKeys lists the objects added, updated or deleted, sorted.
	ChangedKeys []resource.Key
	Initial     bool
	// Errors and Warnings are every current diagnostic of every file,
	// including objects kept at their last good state because their file
	// is broken now.
	Errors   []resource.Diagnostic
	Warnings []resource.Diagnostic
}

// EndpointsOnly reports whether only EndpointSlices changed, so that the
// caller may take the endpoint fast path.
func (e Event) EndpointsOnly() bool {
	return !e.Initial && len(e.Changed) == 1 && e.Changed[0] == resource.KindEndpointSlice
}

// DiagnosticsOnly reports whether no object changed, only what is reported
// about the files (a file broke or was fixed back to its last good state).
func (e Event) DiagnosticsOnly() bool {
	return !e.Initial && len(e.ChangedKeys) == 0
}

// Provider watches files; create it with New and start it with Run.
type Provider struct {
	opts    Options
	log     *slog.Logger
	files   map[string]*fileState
	watched map[string]bool
	prevFP  map[resource.Key]uint64
	prevDig map[string]bool
}

// fileState is what the provider knows of one file.
type fileState struct {
	content uint64            // hash of the bytes last parsed
	objects []resource.Object // current objects: the last good state of broken ones included
	hashes  map[resource.Key]uint64
	errors  []resource.Diagnostic
	warns   []resource.Diagnostic
}

// New returns a Provider for opts.
func New(opts Options) *Provider {
	if opts.Coalesce <= 0 {
		opts.Coalesce = 20 * time.Millisecond
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Provider{
		opts:    opts,
		log:     log,
		files:   map[string]*fileState{},
		watched: map[string]bool{},
	}
}

// Run scans the paths, sends the initial Event and then one Event after every
// burst of changes that alters the Set or the diagnostics, until ctx ends.
// It returns an error only when the paths cannot be watched at all.
func (p *Provider) Run(ctx context.Context, out chan<- Event) error {
	if len(p.opts.Paths) == 0 {
		return errors.New("file provider: no paths to watch")
	}
	for _, path := range p.opts.Paths {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("file provider: %w", err)
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file provider: %w", err)
	}
	defer w.Close()

	first := true
	for {
		if ev, ok := p.rescan(w, first); ok {
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		first = false
		if !p.waitBurst(ctx, w) {
			return nil
		}
	}
}

// waitBurst blocks until a file system event arrives and the burst it
// starts is over. It returns false when ctx ends.
func (p *Provider) waitBurst(ctx context.Context, w *fsnotify.Watcher) bool {
	for started := false; !started; {
		select {
		case <-ctx.Done():
			return false
		case ev, ok := <-w.Events:
			if !ok {
				return false
			}
			started = p.relevant(ev.Name)
		case err, ok := <-w.Errors:
			if !ok {
				return false
			}
			p.log.Warn("file provider: watch error, rescanning", "error", err)
			started = true
		}
	}
	quiet := time.NewTimer(p.opts.Coalesce)
	defer quiet.Stop()
	limit := time.NewTimer(10 * p.opts.Coalesce)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case ev := <-w.Events:
			if p.relevant(ev.Name) {
				quiet.Reset(p.opts.Coalesce)
			}
		case err := <-w.Errors:
			p.log.Warn("file provider: watch error, rescanning", "error", err)
		case <-quiet.C:
			return true
		case <-limit.C:
			return true
		}
	}
}

// relevant reports whether an event on name can change the inputs: it is a
// configured path, or inside a configured folder. (The parents of the
// configured paths are watched too, to notice a path that is removed and
// created again; their other entries are not inputs.)
func (p *Provider) relevant(name string) bool {
	name = filepath.Clean(name)
	for _, root := range p.opts.Paths {
		root = filepath.Clean(root)
		if name == root || strings.HasPrefix(name, root+string(filepath.Separator)) || root == "." {
			return true
		}
	}
	return false
}

// rescan walks every path, adds watches for new folders, re-parses the files
// whose bytes changed and forgets the files that are gone. It returns the
// Event to send, if anything changed.
func (p *Provider) rescan(w *fsnotify.Watcher, initial bool) (Event, bool) {
	files, dirs := p.walk()
	p.syncWatches(w, dirs)
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		seen[f] = true
		p.refresh(f)
	}
	for f := range p.files {
		if !seen[f] {
			delete(p.files, f)
		}
	}
	return p.event(files, initial)
}

// walk lists the input files (sorted, in path order) and the folders to watch.
func (p *Provider) walk() (files, dirs []string) {
	for _, root := range p.opts.Paths {
		dirs = append(dirs, filepath.Dir(filepath.Clean(root)))
		st, err := os.Stat(root)
		if err != nil {
			p.log.Warn("file provider: path unavailable", "path", root, "error", err)
			continue
		}
		if !st.IsDir() {
			files = append(files, root)
			continue
		}
		found, err := resource.WalkDir(root)
		if err != nil {
			p.log.Warn("file provider: walking", "path", root, "error", err)
		}
		files = append(files, found...)
		dirs = append(dirs, listDirs(root)...)
	}
	return resource.Dedupe(files), dirs
}

func listDirs(root string) []string {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != root && len(d.Name()) > 0 && d.Name()[0] == '.' {
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	return dirs
}

func (p *Provider) syncWatches(w *fsnotify.Watcher, dirs []string) {
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
		if !p.watched[d] {
			if err := w.Add(d); err != nil {
				p.log.Warn("file provider: cannot watch folder", "path", d, "error", err)
				continue
			}
			p.watched[d] = true
		}
	}
	for d := range p.watched {
		if !want[d] {
			_ = w.Remove(d) // the folder may be gone already
			delete(p.watched, d)
		}
	}
}

// refresh re-parses one file if its bytes changed. When the new content has
// errors, objects that no longer decode keep their last good state.
func (p *Provider) refresh(file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		p.log.Warn("file provider: cannot read file", "path", file, "error", err)
		return // keep what we had; a deleted file is dropped by rescan
	}
	h := fnv.New64a()
	_, _ = h.Write(data)
	sum := h.Sum64()
	old := p.files[file]
	if old != nil && old.content == sum {
		return
	}
	res, _ := resource.Parse(file, data) // Parse reports problems as diagnostics
	st := &fileState{content: sum, objects: res.Objects, errors: res.Errors, warns: res.Warnings}
	if len(res.Errors) > 0 && old != nil {
		st.objects = keepLastGood(res.Objects, old.objects)
	}
	st.hashes = make(map[resource.Key]uint64, len(st.objects))
	for _, o := range st.objects {
		st.hashes[o.Key] = objectHash(o)
	}
	p.files[file] = st
}

// keepLastGood returns fresh plus every old object whose key fresh lacks.
func keepLastGood(fresh, old []resource.Object) []resource.Object {
	have := make(map[resource.Key]bool, len(fresh))
	for _, o := range fresh {
		have[o.Key] = true
	}
	out := slices.Clone(fresh)
	for _, o := range old {
		if !have[o.Key] {
			out = append(out, o)
		}
	}
	return out
}

func objectHash(o resource.Object) uint64 {
	h := fnv.New64a()
	data, err := json.Marshal(o.Value)
	if err != nil {
		data = []byte(err.Error())
	}
	_, _ = h.Write(data)
	_, _ = h.Write([]byte(o.Source.String()))
	return h.Sum64()
}

// event assembles the Set from every file, in file order, and compares it
// with the previous one.
func (p *Provider) event(files []string, initial bool) (Event, bool) {
	var objs []resource.Object
	var ev Event
	for _, f := range files {
		st := p.files[f]
		if st == nil {
			continue
		}
		objs = append(objs, st.objects...)
		ev.Errors = append(ev.Errors, st.errors...)
		ev.Warnings = append(ev.Warnings, st.warns...)
	}
	set, kept, dups := resource.BuildSet(objs)
	ev.Set = set
	ev.Errors = append(ev.Errors, dups...)
	ev.Initial = initial

	fp := make(map[resource.Key]uint64, len(kept))
	for _, o := range kept {
		fp[o.Key] = p.files[o.Source.File].hashes[o.Key]
	}
	ev.ChangedKeys = diffKeys(fp, p.prevFP)
	kinds := map[string]bool{}
	if initial {
		for k := range fp {
			kinds[k.Kind] = true
		}
	} else {
		for _, k := range ev.ChangedKeys {
			kinds[k.Kind] = true
		}
	}
	for k := range kinds {
		ev.Changed = append(ev.Changed, k)
	}
	sort.Strings(ev.Changed)
	p.prevFP = fp

	diagsChanged := p.logDiagnostics(ev)
	return ev, initial || len(ev.ChangedKeys) > 0 || diagsChanged
}

func diffKeys(cur, prev map[resource.Key]uint64) []resource.Key {
	var out []resource.Key
	for k, h := range cur {
		if ph, ok := prev[k]; !ok || ph != h {
			out = append(out, k)
		}
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// logDiagnostics logs the diagnostics that are new since the last event and
// reports whether the set of diagnostics changed.
func (p *Provider) logDiagnostics(ev Event) bool {
	cur := make(map[string]bool, len(ev.Errors)+len(ev.Warnings))
	changed := false
	for _, d := range ev.Errors {
		s := d.String()
		cur[s] = true
		if !p.prevDig[s] {
			changed = true
			p.log.Error("input error (the object's last good state, if any, is kept)", "diagnostic", s)
		}
	}
	for _, d := range ev.Warnings {
		s := d.String()
		cur[s] = true
		if !p.prevDig[s] {
			changed = true
			p.log.Warn("input warning", "diagnostic", s)
		}
	}
	if len(cur) != len(p.prevDig) {
		changed = true
	}
	p.prevDig = cur
	return changed
}
