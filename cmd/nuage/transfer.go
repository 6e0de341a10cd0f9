package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/pagecache"
)

// defaultJobs is how many files transfer at once by default.
const defaultJobs = 16

// Memory budget of parallel transfers: each file takes one unit per MiB of
// its size, at most maxFileUnits; files under a MiB take none. A transfer
// holds about two segments' worth of buffers (~100 MiB for a big file with
// 16 MiB segments), so big files go one at a time (more would not be faster:
// one already keeps several nodes busy) and medium ones a few at a time,
// while small files run --jobs at a time.
const (
	budgetUnits  = 32
	maxFileUnits = 32
)

// budget is a weighted semaphore bounding the bytes in flight.
type budget struct {
	acq    sync.Mutex // one acquirer at a time: no partial holds can deadlock
	tokens chan struct{}
}

func newBudget() *budget { return &budget{tokens: make(chan struct{}, budgetUnits)} }

// acquire waits until a transfer of size bytes may start and returns the
// function that releases its share.
func (b *budget) acquire(ctx context.Context, size int64) (func(), error) {
	k := int(min((size+(1<<20)-1)>>20, maxFileUnits))
	if size < 1<<20 {
		return func() {}, nil
	}
	b.acq.Lock()
	defer b.acq.Unlock()
	for got := 0; got < k; got++ {
		select {
		case b.tokens <- struct{}{}:
		case <-ctx.Done():
			for range got {
				<-b.tokens
			}
			return nil, ctx.Err()
		}
	}
	return func() {
		for range k {
			<-b.tokens
		}
	}, nil
}

// runPool calls fn for every item with at most n running at once. The
// first error cancels the others and is returned.
func runPool[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	ch := make(chan T)
	for range min(n, len(items)) {
		wg.Go(func() {
			for it := range ch {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, it); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func jobsFlag(cmd *cobra.Command, jobs *int) {
	cmd.Flags().IntVarP(jobs, "jobs", "j", defaultJobs, "files to transfer at once (1-128)")
}

func checkJobs(jobs int) error {
	if jobs < 1 || jobs > 128 {
		return usagef("--jobs %d: want 1 to 128", jobs)
	}
	return nil
}

// localErr adds a hint to an error about a local file.
func localErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return hintErr(err, "check the local path")
	case errors.Is(err, fs.ErrPermission):
		return hintErr(err, "check the file's permissions")
	}
	return err
}

// putFile is one local file to store.
type putFile struct {
	local  string // absolute
	remote string
	size   int64
	// skipSame is set while continuing an interrupted put -r: a remote file
	// with the same size and time is already stored and is skipped.
	skipSame *client.Entry
}

func (a *app) putCommand() *cobra.Command {
	var recursive, overwrite bool
	var jobs int
	cmd := &cobra.Command{
		Use:     "put LOCAL... REMOTE",
		GroupID: "files",
		Short:   "Encrypt and upload files",
		Long: `Encrypt files on this machine and store them. REMOTE is an absolute path.

Like cp: if REMOTE is an existing folder (or several LOCALs are given) the
files go inside it; otherwise REMOTE is the new file's path. With -r a local
folder is copied with everything in it: to REMOTE itself if REMOTE does not
exist, into REMOTE if it is a folder.

A name already taken is an error; with --overwrite the file is replaced and
the old content is kept as a version (see nuage versions).

Many files upload in parallel (--jobs). An interrupted put (Ctrl-C, a lost
connection, a crash) continues where it stopped when the same command is run
again: only the segments not yet stored are sent. The state of an unfinished
upload is kept under the config directory (mode 0600; it holds the upload's
content key) and removed once the file is stored.`,
		Example: `  nuage put photo.jpg /photos/photo.jpg
  nuage put a.txt b.txt /docs
  nuage put -r ~/Pictures /photos
  nuage put --overwrite notes.txt /notes.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("put takes LOCAL... REMOTE (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkJobs(jobs); err != nil {
				return err
			}
			locals, remote := args[:len(args)-1], args[len(args)-1]
			remote, err := client.CleanPath(remote)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			return a.put(cmd.Context(), c, locals, remote, recursive, overwrite, jobs)
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "upload folders and their contents")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace existing files, keeping the old content as a version")
	jobsFlag(cmd, &jobs)
	return cmd
}

func (a *app) put(ctx context.Context, c *client.Client, locals []string, remote string, recursive, overwrite bool, jobs int) error {
	dstIsDir := false
	if st, err := c.Stat(ctx, remote); err == nil {
		dstIsDir = st.IsDir
	} else if !errors.Is(err, client.ErrNotFound) {
		return err
	}
	if len(locals) > 1 && !dstIsDir {
		return usagef("%s is not an existing folder; with several sources the destination must be one", remote)
	}
	updir, err := a.transferDir("uploads")
	if err != nil {
		return err
	}
	pruneStale(updir, time.Now())
	pr := a.newProgress()
	var (
		dirs     []string
		files    []putFile
		treeJobs []string
		total    int64
	)
	for _, l := range locals {
		abs, err := filepath.Abs(l)
		if err != nil {
			return err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return localErr(err)
		}
		target := remote
		if dstIsDir {
			target = path.Join(remote, filepath.Base(abs))
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				return hintErr(fmt.Errorf("%s is not a regular file", l), "put stores regular files and, with -r, folders")
			}
			files = append(files, putFile{local: abs, remote: target, size: st.Size()})
			total += st.Size()
			continue
		}
		if !recursive {
			return usagef("%s is a folder; use -r to upload it with its contents", l)
		}
		// A re-run of an interrupted put -r continues into the same copy.
		jp := treeJobPath(updir, "put", abs, remote)
		var existing map[string]client.Entry
		if j, ok := loadTreeJob(jp); ok && j.Source == abs {
			target = j.Target
			pr.printf("continuing the interrupted upload of %s to %s\n", l, target)
			if existing, err = remoteFiles(ctx, c, target); err != nil {
				return err
			}
		} else if err := saveTreeJob(jp, treeJob{Source: abs, Dest: remote, Target: target}); err != nil {
			return err
		}
		treeJobs = append(treeJobs, jp)
		err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return localErr(err)
			}
			rel, err := filepath.Rel(abs, p)
			if err != nil {
				return err
			}
			t := target
			if rel != "." {
				t = path.Join(target, filepath.ToSlash(rel))
			}
			switch {
			case d.IsDir():
				dirs = append(dirs, t)
			case d.Type().IsRegular():
				info, err := d.Info()
				if err != nil {
					return localErr(err)
				}
				f := putFile{local: p, remote: t, size: info.Size()}
				if e, ok := existing[t]; ok {
					f.skipSame = &e
				}
				files = append(files, f)
				total += info.Size()
			default:
				pr.printf("skipping %s: not a regular file\n", p)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if _, err := c.Mkdir(ctx, d, true); err != nil {
			return err
		}
	}
	start := time.Now()
	pr.start(len(files), total)
	bud := newBudget()
	err = runPool(ctx, jobs, files, func(ctx context.Context, f putFile) error {
		return a.putOne(ctx, c, pr, bud, updir, f, overwrite)
	})
	pr.wait(err == nil)
	if err != nil {
		return err
	}
	for _, jp := range treeJobs {
		_ = os.Remove(jp)
	}
	if len(files) > 1 {
		pr.printf("stored %d files (%s) in %s\n", len(files), sizeOf(total), rate(total, time.Since(start)))
	}
	return nil
}

// remoteFiles maps the paths of the files under p to their entries (none
// if p does not exist).
func remoteFiles(ctx context.Context, c *client.Client, p string) (map[string]client.Entry, error) {
	out := make(map[string]client.Entry)
	err := c.Walk(ctx, p, func(e client.Entry) error {
		if !e.IsDir {
			out[e.Path] = e
		}
		return nil
	})
	if errors.Is(err, client.ErrNotFound) {
		return out, nil
	}
	return out, err
}

// putOne stores one file, resuming an interrupted upload of it.
func (a *app) putOne(ctx context.Context, c *client.Client, pr *progress, bud *budget, updir string, f putFile, overwrite bool) error {
	fh, err := os.Open(f.local)
	if err != nil {
		return localErr(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return hintErr(fmt.Errorf("%s is not a regular file", f.local), "put stores regular files and, with -r, folders")
	}
	size, mtime := st.Size(), st.ModTime()
	if e := f.skipSame; e != nil && e.Size == size && e.ModTime.Equal(mtime) {
		pr.skip(size)
		return nil
	}
	statePath := uploadStatePath(updir, f.local, size, mtime, f.remote)
	rs := a.loadUploadState(statePath, pr)
	if rs.Resumed() {
		// Interrupted after the file was recorded, before the state was removed?
		if e, err := c.Stat(ctx, f.remote); err == nil && !e.IsDir && e.Object == rs.Object && e.Size == size {
			_ = os.Remove(statePath)
			pr.skip(size)
			pr.printf("%s is already stored\n", f.remote)
			return nil
		}
		segs := int64(1)
		if rs.SegmentSize > 0 {
			segs = max(1, (size+rs.SegmentSize-1)/rs.SegmentSize)
		}
		pr.printf("resuming the upload of %s: %d of %d segments already stored\n", f.remote, len(rs.Done), segs)
	}
	rs.Save = saveUploadState(statePath)
	release, err := bud.acquire(ctx, size)
	if err != nil {
		return err
	}
	defer release()
	report, done := pr.bar(filepath.Base(f.local), size)
	start := time.Now()
	e, err := c.Put(ctx, f.remote, fh, size, &client.PutOptions{ModTime: mtime, Mode: st.Mode(), Progress: report, Overwrite: overwrite, Resume: rs})
	done(err == nil)
	if err != nil {
		return err
	}
	_ = os.Remove(statePath)
	pr.printf("stored %s (%s) in %s\n", e.Path, sizeOf(e.Size), rate(e.Size, time.Since(start)))
	return nil
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		d = time.Millisecond
	}
	return fmt.Sprintf("%s (%s/s)", d.Round(time.Millisecond), sizeOf(int64(float64(n)/d.Seconds())))
}

// getFile is one remote file (or one version of it) to fetch.
type getFile struct {
	entry   client.Entry
	version int
	size    int64
	mtime   time.Time
	local   string
	shown   string // how messages name the file
	// skipSame is set while continuing an interrupted get -r: a local file
	// with the same size and time is already fetched and is skipped.
	skipSame bool
}

func (a *app) getCommand() *cobra.Command {
	var recursive bool
	var version, jobs int
	cmd := &cobra.Command{
		Use:     "get REMOTE... LOCAL | get URL [LOCAL]",
		GroupID: "files",
		Short:   "Download and decrypt files, or what a link shares",
		Long: `Fetch files, verify every piece and every 64 KiB block, and decrypt them
here. A download is written to .NAME.nuage-partial beside the destination
and renamed into place only once complete and authenticated: a failed get
never leaves a partial file under the destination name.

Like cp: if LOCAL is an existing folder the files go inside it; otherwise
LOCAL is the new file's name. With -r a remote folder is fetched with
everything in it. With --version N an older version of a file is fetched
(1 = the previous one; see nuage versions).

Many files download in parallel (--jobs). An interrupted get continues from
the last whole segment when the same command is run again.

With a link URL (from nuage link create) no account or login is needed: a
shared file is written to LOCAL (default: its name, here), a shared folder
is fetched with everything in it (default: into a folder of its name,
here). A link with a password asks for it, or takes NUAGE_LINK_PASSWORD.
Quote the URL in the shell.`,
		Example: `  nuage get /photos/photo.jpg .
  nuage get -r /photos ~/restored
  nuage get --version 1 /notes.txt notes-before.txt
  nuage get /backup.tar - | tar -x
  nuage get 'https://nuage.example.org/l/0123…#AQ…'
  NUAGE_LINK_PASSWORD=... nuage get 'https://nuage.example.org/l/0123…#AQ…' ~/Downloads`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && isLinkArg(args[0]) {
				if len(args) > 2 {
					return usagef("get takes a link URL and at most one LOCAL (got %d arguments)", len(args))
				}
				return nil
			}
			if len(args) < 2 {
				return usagef("get takes REMOTE... LOCAL (got %d arguments)", len(args))
			}
			for _, r := range args[:len(args)-1] {
				if isLinkArg(r) {
					return usagef("a link URL is fetched on its own: get URL [LOCAL]")
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkJobs(jobs); err != nil {
				return err
			}
			if version < 0 {
				return usagef("--version %d: versions are numbered from 0 (the current one)", version)
			}
			if isLinkArg(args[0]) && version > 0 {
				return usagef("--version cannot be used with a link: a link gives the current version")
			}
			if args[len(args)-1] == "-" && len(args) > 1 {
				return a.getStdout(cmd.Context(), args[:len(args)-1], recursive, version)
			}
			if isLinkArg(args[0]) {
				local := "."
				if len(args) == 2 {
					local = args[1]
				}
				return a.getLink(cmd.Context(), args[0], local, jobs)
			}
			remotes, local := args[:len(args)-1], args[len(args)-1]
			if version > 0 && len(remotes) > 1 {
				return usagef("--version fetches one file at a time")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			return a.get(cmd.Context(), c, remotes, local, getOptions{recursive: recursive, version: version, jobs: jobs})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "download folders and their contents")
	cmd.Flags().IntVar(&version, "version", 0, "fetch version N of the file (0 = current, 1 = previous, …)")
	jobsFlag(cmd, &jobs)
	return cmd
}

// getStdout writes the one file that sources names (a remote path, or a
// link URL, never with a version) to standard output: get's LOCAL "-".
func (a *app) getStdout(ctx context.Context, sources []string, recursive bool, version int) error {
	if recursive {
		return usagef("-r cannot write to standard output (-): give a folder as LOCAL")
	}
	if len(sources) > 1 {
		return usagef("only one file can be written to standard output (-), got %d sources", len(sources))
	}
	c, p, err := a.fileClient(ctx, sources, true)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ReadVersion(ctx, p, version, 0, -1, a.stdout, nil)
	return stdoutFolderError(err, sources, p)
}

// stdoutFolderError turns the error of a read of a folder to standard
// output into a usage error (nothing was written: the path is resolved
// before any read). A link's URL is not repeated: it carries its key.
func stdoutFolderError(err error, args []string, p string) error {
	if !errors.Is(err, client.ErrIsFolder) {
		return err
	}
	if len(args) > 0 && isLinkArg(args[0]) {
		p += " (in the link)"
	}
	return usagef("%s is a folder: only a file can be written to standard output; fetch a folder with get -r into a local folder", p)
}

// getOptions are the options of a get.
type getOptions struct {
	recursive bool
	version   int
	jobs      int
	// link is set when c is a link's client: "/" is the link's target.
	link *linkSource
}

// linkSource describes the link a get fetches.
type linkSource struct {
	// name is the target's name: the local name of "/".
	name string
	// label identifies the link (its URL without the key) in the saved
	// state of an interrupted recursive get.
	label string
}

func (a *app) get(ctx context.Context, c *client.Client, remotes []string, local string, o getOptions) error {
	recursive, version, jobs := o.recursive, o.version, o.jobs
	// shown is how messages name the remote path p.
	shown := func(p string) string { return p }
	if o.link != nil {
		shown = func(p string) string { return path.Join(o.link.name, p) }
	}
	localIsDir := false
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		localIsDir = true
	}
	if len(remotes) > 1 && !localIsDir {
		return usagef("%s is not an existing folder; with several sources the destination must be one", local)
	}
	dldir, err := a.transferDir("downloads")
	if err != nil {
		return err
	}
	pr := a.newProgress()
	var (
		dirs     []string
		files    []getFile
		treeJobs []string
		total    int64
	)
	for _, r := range remotes {
		e, err := c.Stat(ctx, r)
		if err != nil {
			return err
		}
		target := local
		if localIsDir {
			name := e.Name
			if e.Path == "/" {
				name = "nuage-root"
				if o.link != nil {
					name = o.link.name
				}
			}
			if !filepath.IsLocal(name) {
				return fmt.Errorf("%w: %q cannot be a local file name", client.ErrBadPath, name)
			}
			target = filepath.Join(local, name)
		}
		if !e.IsDir {
			f := getFile{entry: e, version: version, size: e.Size, mtime: e.ModTime, local: target, shown: shown(e.Path)}
			if version > 0 {
				if f.size, f.mtime, err = versionOf(ctx, c, e.Path, version); err != nil {
					return err
				}
			}
			files = append(files, f)
			total += f.size
			continue
		}
		if !recursive {
			return usagef("%s is a folder; use -r to download it with its contents", e.Path)
		}
		if version > 0 {
			return usagef("--version fetches a version of a file; %s is a folder", e.Path)
		}
		absLocal, err := filepath.Abs(local)
		if err != nil {
			return err
		}
		source := e.Path
		if o.link != nil {
			source = o.link.label + e.Path
		}
		jp := treeJobPath(dldir, "get", source, absLocal)
		continuing := false
		if j, ok := loadTreeJob(jp); ok && j.Source == source {
			target, continuing = j.Target, true
			pr.printf("continuing the interrupted download of %s to %s\n", shown(e.Path), target)
		} else if err := saveTreeJob(jp, treeJob{Source: source, Dest: absLocal, Target: target}); err != nil {
			return err
		}
		treeJobs = append(treeJobs, jp)
		err = c.Walk(ctx, e.Path, func(k client.Entry) error {
			rel := strings.TrimPrefix(strings.TrimPrefix(k.Path, e.Path), "/")
			lp := target
			if rel != "" {
				if !filepath.IsLocal(filepath.FromSlash(rel)) {
					return fmt.Errorf("%w: remote path %q cannot be a local file name", client.ErrBadPath, k.Path)
				}
				lp = filepath.Join(target, filepath.FromSlash(rel))
			}
			if k.IsDir {
				dirs = append(dirs, lp)
				return nil
			}
			files = append(files, getFile{entry: k, size: k.Size, mtime: k.ModTime, local: lp, shown: shown(k.Path), skipSame: continuing})
			total += k.Size
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return localErr(err)
		}
	}
	start := time.Now()
	pr.start(len(files), total)
	bud := newBudget()
	err = runPool(ctx, jobs, files, func(ctx context.Context, f getFile) error {
		return a.getOne(ctx, c, pr, bud, f)
	})
	pr.wait(err == nil)
	if err != nil {
		return err
	}
	for _, jp := range treeJobs {
		_ = os.Remove(jp)
	}
	if len(files) > 1 {
		pr.printf("fetched %d files (%s) in %s\n", len(files), sizeOf(total), rate(total, time.Since(start)))
	}
	return nil
}

// versionOf returns the size and time of version n of the file at p.
func versionOf(ctx context.Context, c *client.Client, p string, n int) (int64, time.Time, error) {
	vs, err := c.Versions(ctx, p)
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, v := range vs {
		if v.N == n {
			return v.Size, v.ModTime, nil
		}
	}
	return 0, time.Time{}, hintErr(fmt.Errorf("%s has no version %d: %w", p, n, client.ErrNotFound),
		fmt.Sprintf("it has %d older versions; list them with `nuage versions %s`", len(vs)-1, p))
}

// nearTime reports whether two file times are equal to the second (file
// systems keep times at different precisions).
func nearTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Second && d > -time.Second
}

// checkpointEvery is how often a get records beside its file how much of
// it is durable, for a re-run (see flusher).
const checkpointEvery = time.Second

// getOne fetches one file into its partial file, recording its durable
// progress as it goes, and renames it into place once whole,
// authenticated and synced.
func (a *app) getOne(ctx context.Context, c *client.Client, pr *progress, bud *budget, f getFile) (err error) {
	if f.skipSame {
		if st, err := os.Stat(f.local); err == nil && st.Mode().IsRegular() && st.Size() == f.size && nearTime(st.ModTime(), f.mtime) {
			pr.skip(f.size)
			return nil
		}
	}
	partial, sidecar := partialPaths(f.local)
	want := partialState{Entry: f.entry.ID, Version: f.version, Size: f.size, ModTime: f.mtime}
	if f.version == 0 {
		want.Object = f.entry.Object
	}
	fh, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create download file: %w", localErr(err))
	}
	keep := true // keep the partial file for a re-run
	defer func() {
		fh.Close()
		if !keep {
			_ = os.Remove(partial)
			_ = os.Remove(sidecar)
		}
	}()
	var off int64
	if ps, ok := loadPartial(sidecar); ok && ps.same(want) && ps.Done > 0 && ps.Done <= f.size {
		if st, err := fh.Stat(); err == nil && st.Size() >= ps.Done {
			off = ps.Done
		}
	}
	if off == 0 {
		_ = os.Remove(sidecar) // describes bytes no longer kept
	}
	if err := fh.Truncate(off); err != nil {
		return err
	}
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if off > 0 {
		pr.printf("resuming the download of %s at %s of %s\n", f.shown, sizeOf(off), sizeOf(f.size))
	}
	release, err := bud.acquire(ctx, f.size-off)
	if err != nil {
		return err
	}
	defer release()
	report, done := pr.bar(path.Base(f.shown), f.size)
	report(off)
	// The client calls back after writing each whole segment. A flusher
	// makes the bytes durable and records them beside the file, so that a
	// re-run continues from there, while the transfer goes on.
	fl := newFlusher(fh, off, func(durable int64) error {
		st := want
		st.Done = durable
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return writePrivate(sidecar, b, false)
	}, func(err error) {
		pr.printf("warning: cannot record the progress of %s (%v); an interrupted download will start over\n", f.shown, err)
	})
	defer fl.close()
	written := off
	progress := func(n int64) {
		written += n
		report(n)
		if written < f.size {
			fl.wrote(n) // the last bytes are synced below
		}
	}
	start := time.Now()
	// pagecache.Writer keeps the file's pages from piling up in the page
	// cache.
	_, err = c.ReadVersion(ctx, f.entry.Path, f.version, off, -1, pagecache.NewWriter(fh, off), progress)
	if ferr := fl.close(); ferr != nil && err == nil {
		err = fmt.Errorf("write %s: %w", partial, localErr(ferr))
	}
	done(err == nil)
	if err != nil {
		if errors.Is(err, client.ErrTampered) {
			keep = false
		}
		return err
	}
	if written != f.size {
		keep = false
		return hintErr(fmt.Errorf("%s: got %d bytes, expected %d", f.shown, written, f.size), "the file changed while it was fetched; run the command again")
	}
	if err := fh.Sync(); err != nil {
		return err
	}
	mode := f.entry.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	if err := fh.Chmod(mode); err != nil {
		return err
	}
	if err := os.Rename(partial, f.local); err != nil {
		return localErr(err)
	}
	keep = false // the partial is now the file; only the sidecar is left to remove
	if !f.mtime.IsZero() {
		_ = os.Chtimes(f.local, f.mtime, f.mtime)
	}
	pr.printf("fetched %s (%s) in %s\n", f.shown, sizeOf(f.size), rate(f.size, time.Since(start)))
	return nil
}
