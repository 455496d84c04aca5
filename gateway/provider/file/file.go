// Package file is the standalone provider: it watches folders of Gateway API
// YAML with fsnotify and emits a new resource.Set, and what changed, after
// every edit. A file that breaks is reported and the last good state of its
// objects is kept; bad input never stops the provider.
//
// Its cost follows the changed documents: it reads the files the events
// name, compares a changed file with its last bytes from both ends, splits
// only the bytes between into YAML documents and decodes only those whose
// bytes it has not decoded before (docs.go, docs_edit.go); an unchanged
// document keeps its object, the same pointer, and the next Set shares
// with the previous one every list of a kind that did not change and
// splices the changed files' objects into the others between runs of the
// previous lists (assemble.go).
package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	// ChangedKeys lists the objects added, updated or deleted, sorted. An
	// object whose document only moved (to another line or file) is not
	// changed: it keeps its pointer, and the Set's Sources say where it is.
	ChangedKeys []resource.Key
	Initial     bool
	// Errors and Warnings are every current diagnostic of every file,
	// including objects kept at their last good state because their file
	// is broken now. Events share them while they do not change: read
	// only.
	Errors   []resource.Diagnostic
	Warnings []resource.Diagnostic
}

// EndpointsOnly reports whether only EndpointSlices changed, so that the
// caller may take the endpoint fast path.
func (e Event) EndpointsOnly() bool {
	return !e.Initial && len(e.Changed) == 1 && e.Changed[0] == resource.KindEndpointSlice
}

// DiagnosticsOnly reports whether no object changed, only what is reported
// about the files (a file broke or was fixed back to its last good state)
// or where objects are.
func (e Event) DiagnosticsOnly() bool {
	return !e.Initial && len(e.ChangedKeys) == 0
}

// Provider watches files; create it with New and start it with Run.
type Provider struct {
	opts     Options
	log      *slog.Logger
	files    map[string]*fileState
	index    map[string]int // each input file's index in walk order
	ordered  []*fileState   // the files' states in walk order (nil for a file not read)
	docs     docCache
	spares   spares // read buffers no file's state holds (read.go)
	watched  map[string]bool
	set      *resource.Set         // the last Set, nil before the first event
	dupDiags []resource.Diagnostic // the duplicates the last Set left out
	// errors and warnings are the last Event's (see collectDiagnostics).
	errors, warnings []resource.Diagnostic
	// layout is the files' states the last Set was assembled from, in
	// file order; without duplicates, each list of the Set holds their
	// objects of its kind in that order, one span per file.
	layout      []*fileState
	spareLayout []*fileState // the array of the layout before, cleared (see setLayout)
	// rebuilds counts the Sets assembled whole from every file rather
	// than spliced (the first, and those with duplicates).
	rebuilds int
	prevDig  map[string]bool
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
		docs:    docCache{m: map[string]*docEntry{}},
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

	b := burst{full: true}
	for first := true; ; first = false {
		if ev, ok := p.rescan(w, b, first); ok {
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		var ok bool
		if b, ok = p.waitBurst(ctx, w); !ok {
			return nil
		}
	}
}

// burst is what a burst of file system events named: the files to read
// again, or full when anything else may have changed (a folder, a symlink
// such as a mounted ConfigMap's "..data", a lost event), so that every file
// is read again (and decoded only where its documents changed).
type burst struct {
	names map[string]bool // cleaned paths
	full  bool
}

func (b *burst) add(name string) {
	if !resource.IsInputFile(name) {
		b.full = true
	}
	if b.names == nil {
		b.names = map[string]bool{}
	}
	b.names[filepath.Clean(name)] = true
}

// waitBurst blocks until a file system event arrives and the burst it
// starts is over, and returns what the burst named. ok is false when ctx
// ends.
func (p *Provider) waitBurst(ctx context.Context, w *fsnotify.Watcher) (b burst, ok bool) {
	for started := false; !started; {
		select {
		case <-ctx.Done():
			return b, false
		case ev, ok := <-w.Events:
			if !ok {
				return b, false
			}
			if started = p.relevant(ev.Name); started {
				b.add(ev.Name)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return b, false
			}
			p.log.Warn("file provider: watch error, rescanning", "error", err)
			started, b.full = true, true
		}
	}
	quiet := time.NewTimer(p.opts.Coalesce)
	defer quiet.Stop()
	limit := time.NewTimer(10 * p.opts.Coalesce)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return b, false
		case ev := <-w.Events:
			if p.relevant(ev.Name) {
				b.add(ev.Name)
				quiet.Reset(p.opts.Coalesce)
			}
		case err := <-w.Errors:
			p.log.Warn("file provider: watch error, rescanning", "error", err)
			b.full = true
		case <-quiet.C:
			return b, true
		case <-limit.C:
			return b, true
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

// rescan reads again the files b names when each is an input file the
// last walk listed and a regular file still, so that a walk would list the
// same files and folders. Otherwise (the first scan, a full burst, a file
// created or removed) it walks every path, adds watches for new folders,
// and updates from the walk.
func (p *Provider) rescan(w *fsnotify.Watcher, b burst, initial bool) (Event, bool) {
	if named, ok := p.known(b); ok && !initial {
		var changes []fileChange
		for _, f := range named {
			changes = p.reread(changes, f)
			p.ordered[p.index[f]] = p.files[f]
		}
		return p.apply(changes, false)
	}
	files, dirs := p.walk()
	p.syncWatches(w, dirs)
	return p.update(files, b, initial)
}

// known returns the files b names, in file order, when b is not full and
// each is an input file of the last walk and a regular file still.
func (p *Provider) known(b burst) ([]string, bool) {
	if b.full {
		return nil, false
	}
	named := make([]string, 0, len(b.names))
	for name := range b.names {
		if _, ok := p.index[name]; !ok {
			return nil, false
		}
		if st, err := os.Stat(name); err != nil || !st.Mode().IsRegular() {
			return nil, false
		}
		named = append(named, name)
	}
	slices.SortFunc(named, func(x, y string) int { return cmp.Compare(p.index[x], p.index[y]) })
	return named, true
}

// update reads the files b names (every file when b.full) and the new
// ones, decodes their new documents, forgets the files that are gone, and
// returns the Event to send, if anything changed.
func (p *Provider) update(files []string, b burst, initial bool) (Event, bool) {
	var changes []fileChange
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		seen[f] = true
		if p.files[f] != nil && !b.full && !b.names[filepath.Clean(f)] {
			continue
		}
		changes = p.reread(changes, f)
	}
	for f, st := range p.files {
		if !seen[f] {
			changes = append(changes, fileChange{old: st})
			delete(p.files, f)
		}
	}
	p.index = make(map[string]int, len(files))
	p.ordered = make([]*fileState, len(files))
	for i, f := range files {
		p.index[f], p.ordered[i] = i, p.files[f]
	}
	return p.apply(changes, initial)
}

// reread reads file f again and appends its change to changes, if its
// bytes changed.
func (p *Provider) reread(changes []fileChange, f string) []fileChange {
	old := p.files[f]
	st, sp := p.refresh(f, old)
	if st == nil {
		return changes
	}
	p.files[f] = st
	return append(changes, fileChange{old: old, new: st, span: sp})
}

// apply releases the cache entries of the documents the changes removed
// and returns the Event to send, if anything changed.
func (p *Provider) apply(changes []fileChange, initial bool) (Event, bool) {
	for _, c := range changes {
		if c.new == nil {
			for _, s := range c.old.slots {
				p.docs.release(s.e)
			}
		}
		for _, e := range c.span.gone {
			p.docs.release(e)
		}
	}
	return p.event(changes, initial)
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
